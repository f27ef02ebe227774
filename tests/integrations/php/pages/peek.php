<?php
// read_and_close: the session is read without taking its lock, and never saved.
require __DIR__ . '/_boot.php';
$started = session_start(['read_and_close' => true]);
reply(['started' => $started, 'id' => session_id(), 'session' => $_SESSION ?? null]);
