<?php
// session_abort(): the lock is released and nothing is saved.
require __DIR__ . '/_boot.php';
session_start();
$_SESSION['count'] = -1;
session_abort();
reply(['id' => session_id()]);
