<?php
// PHP's garbage collection, with session.gc_maxlifetime from ?max=.
require __DIR__ . '/_boot.php';
ini_set('session.gc_maxlifetime', $_GET['max'] ?? '1440');
session_start(['read_and_close' => false]);
reply(['deleted' => session_gc()]);
