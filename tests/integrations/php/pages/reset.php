<?php
// session_reset(): back to the stored data, same id.
require __DIR__ . '/_boot.php';
session_start();
$_SESSION['count'] = 99;
session_reset();
reply(['id' => session_id(), 'session' => $_SESSION]);
