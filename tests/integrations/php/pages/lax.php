<?php
// An application that turns strict mode off.
require __DIR__ . '/_boot.php';
ini_set('session.use_strict_mode', '0');
$started = session_start();
reply(['started' => $started, 'id' => session_id()]);
