<?php
// Login: a new id for the same data; with ?delete=1 the old id is destroyed.
require __DIR__ . '/_boot.php';
session_start();
$old = session_id();
$_SESSION['user'] = $_GET['user'] ?? 'alice';
$regenerated = session_regenerate_id(!empty($_GET['delete']));
reply(['regenerated' => $regenerated, 'old' => $old, 'new' => session_id()]);
