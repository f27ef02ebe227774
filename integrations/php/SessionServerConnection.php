<?php
/**
 * One connection to a sessionserver daemon, speaking RESP2 (binary-safe: the framing the
 * project's Python clients use) over stream_socket_client(). SessionServerHandler uses it;
 * it can be used alone for commands the handler does not send (docs/protocol.md lists them).
 */

declare(strict_types=1);

final class SessionServerConnection
{
    private string $address;
    private string $uri;
    private ?string $token;
    private float $timeout;
    private array $ssl;
    /** @var resource|null */
    private $socket = null;

    /**
     * @param string $address host:port, [v6]:port, tcp://host:port or tls://host:port (the
     *     port defaults to 9090).
     * @param string|null $token sent with `auth` on connecting.
     * @param float $timeout seconds for connecting and for each reply.
     * @param array|bool|null $tls TLS (also chosen by tls://): true, or SSL context options
     *     (cafile, local_cert, local_pk, peer_name, verify_peer...).
     * @throws InvalidArgumentException for a malformed address.
     */
    public function __construct(
        string $address,
        #[\SensitiveParameter] ?string $token = null,
        float $timeout = 5.0,
        array|bool|null $tls = null
    ) {
        $pattern = '~^(?:(tcp|tls)://)?(\[[0-9A-Fa-f:.]+\]|[^:/\[\]\s]+)(?::(\d{1,5}))?$~';
        if (!preg_match($pattern, $address, $m)) {
            throw new InvalidArgumentException("not a host:port address: $address");
        }
        $secure = $m[1] === 'tls' || ($tls !== null && $tls !== false);
        $this->address = $m[2] . ':' . (($m[3] ?? '') !== '' ? $m[3] : '9090');
        $this->uri = ($secure ? 'tls://' : 'tcp://') . $this->address;
        $this->ssl = is_array($tls) ? $tls : [];
        $this->token = $token;
        $this->timeout = $timeout;
    }

    /** The token never shows in var_dump() or print_r(). */
    public function __debugInfo(): array
    {
        return ['address' => $this->uri, 'token' => $this->token === null ? null : '***'];
    }

    public function address(): string
    {
        return $this->address;
    }

    public function connected(): bool
    {
        return $this->socket !== null;
    }

    /** Connect (and authenticate) unless connected. */
    public function connect(): void
    {
        if ($this->socket !== null) {
            return;
        }
        $context = stream_context_create(['socket' => ['tcp_nodelay' => true], 'ssl' => $this->ssl]);
        // PHP reports what went wrong (a refused certificate, say) in warnings of its own:
        // collect them into the one error.
        $warnings = [];
        set_error_handler(function (int $level, string $message) use (&$warnings): bool {
            if (!str_contains($message, 'Unable to connect to')) { // says no more than $error
                $warnings[] = preg_replace(['/^stream_socket_client\(\): /', '/\s+/'], ['', ' '], $message);
            }
            return true;
        });
        try {
            $socket = stream_socket_client(
                $this->uri, $errno, $error, $this->timeout, STREAM_CLIENT_CONNECT, $context
            );
        } finally {
            restore_error_handler();
        }
        if ($socket === false) {
            $why = $warnings ? implode('; ', $warnings) : ($error ?: 'failed');
            throw new SessionServerError("cannot connect to $this->address: $why");
        }
        $this->socket = $socket;
        if ($this->token !== null) {
            try {
                $this->call([['auth', $this->token]]);
            } catch (SessionServerError $e) {
                $this->close();
                throw $e;
            }
        }
    }

    public function close(): void
    {
        if ($this->socket !== null) {
            fclose($this->socket);
        }
        $this->socket = null;
    }

    /**
     * Send commands in one write, then read every reply: true for +OK, a string, an int or a
     * flat array. An error reply whose message is in $expected comes back as null; any other
     * is thrown once all replies are read (the connection stays usable).
     *
     * @param list<list<string>> $commands
     * @param float|null $firstTimeout how long the first reply may take (a lock wait).
     * @throws SessionServerError
     */
    public function call(array $commands, ?float $firstTimeout = null, string ...$expected): array
    {
        $this->connect();
        $out = '';
        foreach ($commands as $args) {
            $out .= '*' . count($args) . "\r\n";
            foreach ($args as $arg) {
                $out .= '$' . strlen($arg) . "\r\n" . $arg . "\r\n";
            }
        }
        for ($sent = 0; $sent < strlen($out); $sent += $n) {
            $n = @fwrite($this->socket, substr($out, $sent));
            if (!$n) {
                $this->drop("cannot send to $this->address");
            }
        }
        $replies = [];
        $failure = null;
        foreach ($commands as $i => $_) {
            $timeout = $i === 0 && $firstTimeout !== null ? $firstTimeout : $this->timeout;
            stream_set_timeout($this->socket, (int) $timeout, (int) (fmod($timeout, 1.0) * 1e6));
            $reply = $this->reply();
            if ($reply instanceof SessionServerError) {
                $failure ??= in_array($reply->getMessage(), $expected, true) ? null : $reply;
                $reply = null;
            }
            $replies[] = $reply;
        }
        if ($failure !== null) {
            throw $failure;
        }
        return $replies;
    }

    private function reply(): mixed
    {
        $line = $this->readBytes(null);
        $body = substr($line, 1, -2);
        switch ($line[0]) {
            case '+':
                return $body === 'OK' ? true : $body;
            case '-':
                // The code (ERR, NOAUTH, WRONGPASS) is for Redis clients; the message says it.
                return new SessionServerError(preg_replace('/^[A-Z]+ /', '', $body));
            case ':':
                return (int) $body;
            case '$':
                return $body === '-1' ? null : substr($this->readBytes((int) $body + 2), 0, -2);
            case '*':
                $items = [];
                for ($i = 0, $n = (int) $body; $i < $n; $i++) {
                    $items[] = $this->reply();
                }
                return $items;
        }
        $this->drop("unexpected reply from $this->address");
    }

    /** A whole line (null) or exactly $length bytes. */
    private function readBytes(?int $length): string
    {
        $data = '';
        do {
            $chunk = $length === null
                ? fgets($this->socket)
                : fread($this->socket, $length - strlen($data));
            if ($chunk === false || $chunk === '') {
                $late = stream_get_meta_data($this->socket)['timed_out'];
                $this->drop($late ? "no reply from $this->address in time" : "$this->address closed the connection");
            }
            $data .= $chunk;
        } while ($length === null ? substr($data, -1) !== "\n" : strlen($data) < $length);
        return $data;
    }

    /** Close (the position in the reply stream is lost) and throw. */
    private function drop(string $why): never
    {
        $this->close();
        throw new SessionServerError($why);
    }
}

/** A failure talking to the server: it could not be reached, or replied with an error. */
final class SessionServerError extends RuntimeException
{
}
