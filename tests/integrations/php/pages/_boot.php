<?php
// Included by every page: the handler on the test's daemon, as an application would set it up
// (the options come from the test, as JSON), and two helpers for the pages.
require __DIR__ . '/../../../../integrations/php/SessionServerHandler.php';

$options = json_decode(getenv('TEST_HANDLER_OPTIONS') ?: '{}', true);
$handler = new SessionServerHandler(getenv('TEST_SESSIONSERVER'), $options);
session_set_save_handler($handler, true);

/** The page's result, as the last line of the body (warnings, if any, come before it; a
 * string that is not UTF-8, which JSON cannot carry, shows as null). */
function reply(mixed $data): void
{
    header('Content-Type: text/plain');
    echo "\n", json_encode($data, JSON_UNESCAPED_UNICODE | JSON_PRESERVE_ZERO_FRACTION | JSON_PARTIAL_OUTPUT_ON_ERROR), "\n";
}

/** With ?gate=PORT: tell the test we are here, then wait until it says go. */
function gate(): void
{
    if (isset($_GET['gate'])) {
        $gate = stream_socket_client('tcp://127.0.0.1:' . (int) $_GET['gate']);
        fwrite($gate, "here\n");
        fgets($gate);
        fclose($gate);
    }
}
