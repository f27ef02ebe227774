<?php
// Logout.
require __DIR__ . '/_boot.php';
session_start();
$id = session_id();
reply(['destroyed' => session_destroy(), 'id' => $id]);
