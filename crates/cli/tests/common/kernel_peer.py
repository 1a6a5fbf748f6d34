# The Linux kernel's side of the TCP interop tests: plain Python sockets,
# run inside the test namespace with `python3 -c`. Every mode prints one
# line `READY` once it listens (server modes) and one JSON object as its
# result on stdout; the Rust test parses it. Data is generated from a seed
# (SHAKE-256 blocks), so a run replays; every socket call has a timeout.
import errno
import hashlib
import json
import socket
import sys
import threading
import time

TIMEOUT = 60.0
BLOCK = 1 << 20


def stream(n, seed):
    """n bytes of seeded data, in blocks of at most 1 MiB."""
    i = 0
    while n > 0:
        block = hashlib.shake_256(b"sockstack-%d-%d" % (seed, i)).digest(min(n, BLOCK))
        yield block
        n -= len(block)
        i += 1


def send_stream(sock, n, seed, result):
    h = hashlib.sha256()
    sent = 0
    try:
        for block in stream(n, seed):
            sock.sendall(block)
            h.update(block)
            sent += len(block)
        sock.shutdown(socket.SHUT_WR)
    except OSError as e:
        result["send_error"] = errno.errorcode.get(e.errno, str(e))
    result["sent_len"] = sent
    result["sent_sha"] = h.hexdigest()


def recv_all(sock, result):
    h = hashlib.sha256()
    got = 0
    try:
        while True:
            data = sock.recv(BLOCK)
            if not data:
                break
            h.update(data)
            got += len(data)
    except OSError as e:
        result["recv_error"] = errno.errorcode.get(e.errno, str(e))
    result["recv_len"] = got
    result["recv_sha"] = h.hexdigest()


def both_ways(sock, n, seed):
    """Send n bytes (then FIN) while receiving to EOF."""
    result = {}
    t0 = time.monotonic()
    sender = threading.Thread(target=send_stream, args=(sock, n, seed, result))
    sender.start()
    recv_all(sock, result)
    sender.join(TIMEOUT)
    result["secs"] = time.monotonic() - t0
    return result


def listen(port):
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("0.0.0.0", port))
    lsock.listen(64)
    lsock.settimeout(TIMEOUT)
    print("READY", flush=True)
    conn, _ = lsock.accept()
    conn.settimeout(TIMEOUT)
    lsock.close()
    return conn


def connect(host, port):
    # Retry while the sockstack side is still starting (refused, or no
    # ARP answer yet), for a bounded time.
    deadline = time.monotonic() + 15
    while True:
        try:
            sock = socket.create_connection((host, port), timeout=5)
            break
        except OSError:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.1)
    sock.settimeout(TIMEOUT)
    return sock


def echo_once(host, port, size, seed):
    sock = connect(host, port)
    try:
        r = both_ways(sock, size, seed)
    finally:
        sock.close()
    return r.get("sent_sha") == r.get("recv_sha") and r.get("recv_len") == size


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    out = {}
    if mode == "serve-both-ways":  # PORT N SEED
        conn = listen(int(args[0]))
        out = both_ways(conn, int(args[1]), int(args[2]))
        conn.close()
    elif mode == "serve-reset-unread":  # PORT: read a little, close with data unread
        conn = listen(int(args[0]))
        first = conn.recv(1)
        deadline = time.monotonic() + 10
        # Wait until more data sits unread in our receive queue.
        while time.monotonic() < deadline:
            time.sleep(0.05)
            try:
                if len(conn.recv(4096, socket.MSG_PEEK | socket.MSG_DONTWAIT)) > 0:
                    break
            except BlockingIOError:
                pass
        conn.close()
        out = {"first": len(first), "closed": True}
    elif mode == "serve-hello-then-sink":  # PORT: send, half-close, read to EOF
        conn = listen(int(args[0]))
        conn.sendall(b"hello from the kernel\n")
        conn.shutdown(socket.SHUT_WR)
        recv_all(conn, out)
        conn.close()
    elif mode == "serve-reply-after-eof":  # PORT: read to EOF, then answer
        conn = listen(int(args[0]))
        recv_all(conn, out)
        conn.sendall(("%d %s\n" % (out["recv_len"], out["recv_sha"])).encode())
        conn.close()
    elif mode == "serve-close-first":  # PORT: close at once
        conn = listen(int(args[0]))
        conn.close()
        out = {"closed": True}
    elif mode == "serve-echo":  # PORT COUNT: echo COUNT connections, any overlap
        lsock = socket.socket()
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lsock.bind(("0.0.0.0", int(args[0])))
        lsock.listen(128)
        lsock.settimeout(TIMEOUT)
        print("READY", flush=True)
        echoed = [0]
        lock = threading.Lock()

        def echo(conn):
            conn.settimeout(TIMEOUT)
            n = 0
            try:
                while True:
                    data = conn.recv(BLOCK)
                    if not data:
                        break
                    conn.sendall(data)
                    n += len(data)
            except OSError:
                pass
            conn.close()
            with lock:
                echoed[0] += n

        threads = []
        for _ in range(int(args[1])):
            conn, _ = lsock.accept()
            t = threading.Thread(target=echo, args=(conn,))
            t.start()
            threads.append(t)
        for t in threads:
            t.join(TIMEOUT)
        out = {"served": len(threads), "echoed": echoed[0]}
    elif mode == "hold-open":  # HOST PORT: connect, wait for the peer's FIN
        sock = connect(args[0], int(args[1]))
        print("CONNECTED", flush=True)
        try:
            out = {"eof": sock.recv(1) == b""}
        except OSError as e:
            out = {"error": errno.errorcode.get(e.errno, str(e))}
        sock.close()
    elif mode == "echo":  # HOST PORT N SEED
        sock = connect(args[0], int(args[1]))
        out = both_ways(sock, int(args[2]), int(args[3]))
        sock.close()
    elif mode == "sequential":  # HOST PORT COUNT SIZE
        ok = 0
        for i in range(int(args[2])):
            ok += echo_once(args[0], int(args[1]), int(args[3]), i)
        out = {"ok": ok}
    elif mode == "concurrent":  # HOST PORT COUNT SIZE
        count, size = int(args[2]), int(args[3])
        socks = [connect(args[0], int(args[1])) for _ in range(count)]
        results = [{} for _ in range(count)]

        def run(i):
            results[i] = both_ways(socks[i], size, i)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(TIMEOUT)
        for s in socks:
            s.close()
        out = {
            "ok": sum(
                1
                for r in results
                if r.get("sent_sha") == r.get("recv_sha") and r.get("recv_len") == size
            )
        }
    elif mode == "exchanges":  # HOST PORT COUNT GAP_MS: request, echo, pause; then FIN
        sock = connect(args[0], int(args[1]))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        echoed = 0
        for i in range(int(args[2])):
            req = b"req%d" % i
            sock.sendall(req)
            got = b""
            while len(got) < len(req):
                data = sock.recv(len(req) - len(got))
                if not data:
                    break
                got += data
            echoed += got == req
            time.sleep(int(args[3]) / 1000)
        # Half-close and wait for the peer's FIN, so it is on the wire
        # before this returns.
        sock.shutdown(socket.SHUT_WR)
        out = {"echoed": echoed, "eof": sock.recv(1) == b""}
        sock.close()
    elif mode == "trickle":  # HOST PORT COUNT GAP_MS: one-byte writes, never read
        sock = connect(args[0], int(args[1]))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = 0
        for _ in range(int(args[2])):
            sent += sock.send(b"k")
            time.sleep(int(args[3]) / 1000)
        # Half-close and wait for the peer's FIN, so every ACK is on the
        # wire before this returns.
        sock.shutdown(socket.SHUT_WR)
        out = {"sent": sent, "eof": sock.recv(1) == b""}
        sock.close()
    elif mode == "connect-ex":  # HOST PORT
        sock = socket.socket()
        sock.settimeout(TIMEOUT)
        code = sock.connect_ex((args[0], int(args[1])))
        out = {"errno": errno.errorcode.get(code, str(code))}
    elif mode == "send-until-error":  # HOST PORT N: send without reading
        sock = connect(args[0], int(args[1]))
        try:
            for block in stream(int(args[2]), 1):
                sock.sendall(block)
            time.sleep(1)
            sock.sendall(b"x" * 65536)
            out = {"error": None}
        except OSError as e:
            out = {"error": errno.errorcode.get(e.errno, str(e))}
        sock.close()
    elif mode == "close-first":  # HOST PORT: connect, close first
        sock = connect(args[0], int(args[1]))
        sock.sendall(b"bye\n")
        sock.close()
        time.sleep(0.5)
        out = {"closed": True}
    else:
        raise SystemExit("unknown mode " + mode)
    print(json.dumps(out), flush=True)


main()
