<?php
// The server goes away in the middle of the request (the test stops it at the gate).
require __DIR__ . '/_boot.php';
session_start();
$_SESSION['lost'] = true;
gate();
$saved = session_write_close();
$again = session_start();
$regenerated = $again && session_regenerate_id(true);
reply(['saved' => $saved, 'again' => $again, 'regenerated' => $regenerated, 'end' => true]);
