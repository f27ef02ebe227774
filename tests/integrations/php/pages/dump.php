<?php
// What a debugging page shows of the handler: never its token.
require __DIR__ . '/_boot.php';
var_dump($handler);
print_r($handler);
reply(['dumped' => true]);
