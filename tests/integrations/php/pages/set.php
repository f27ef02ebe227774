<?php
// Sets the keys of the JSON body (typed: the body's numbers, booleans, nulls and arrays) and
// removes the keys listed in ?remove=a,b; replies the whole session.
require __DIR__ . '/_boot.php';
$started = session_start();
foreach (json_decode(file_get_contents('php://input') ?: '{}', true) as $key => $value) {
    $_SESSION[$key] = $value;
}
foreach (array_filter(explode(',', $_GET['remove'] ?? '')) as $key) {
    unset($_SESSION[$key]);
}
if (isset($_GET['inf'])) {
    $_SESSION['inf'] = INF;
}
if (isset($_GET['object'])) {
    $_SESSION['object'] = new ArrayObject([1, 2]);
}
if (isset($_GET['binary'])) {
    $_SESSION['binary'] = "\xff\xfe";
}
session_write_close(); // true even when the save failed: the warnings tell
reply(['started' => $started, 'id' => session_id(), 'session' => $_SESSION]);
