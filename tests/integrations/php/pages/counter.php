<?php
// Read-modify-write under the session lock: concurrent requests must lose no increment.
require __DIR__ . '/_boot.php';
$started = session_start();
gate();
$_SESSION['count'] = ($_SESSION['count'] ?? 0) + 1;
reply(['started' => $started, 'id' => session_id(), 'count' => $_SESSION['count']]);
