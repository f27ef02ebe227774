<?php
// A new id by hand, as PHP's manual shows it (session_regenerate_id, example 2):
// session_create_id() in the active session, then start the new id with strict mode off.
require __DIR__ . '/_boot.php';
session_start();
$old = session_id();
$new = session_create_id();
$_SESSION['moved'] = true;
session_commit();
ini_set('session.use_strict_mode', '0');
session_id($new);
session_start();
$_SESSION['moved_from'] = $old;
reply(['old' => $old, 'new' => session_id(), 'asked' => $new, 'session' => $_SESSION]);
