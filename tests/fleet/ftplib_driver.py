"""Python's ftplib, driven one JSON line at a time (tests/fleet/ftplib.ts).

Each request names an operation; the answer is one JSON line: {"reply": "<the
server's reply line>"} (also when ftplib raises for a 4xx/5xx reply), or
{"error": "<what went wrong>"} when there was no reply (reset, EOF, timeout).
Sessions stay open between requests, so a test can hold some while it opens
others; every connection (control and data) is bound to the request's source
address, so the PROXY headers HAProxy sends name that address.
"""

import ftplib
import json
import socket
import sys

sessions = {}
data_sockets = {}
next_id = 1


def handle(request):
    global next_id
    op = request["op"]
    if op == "dial":
        # A bare data connection: is it closed (EOF) within `wait` seconds, or held open?
        conn = socket.create_connection(
            (request["host"], request["port"]), timeout=15, source_address=(request["source"], 0)
        )
        conn.settimeout(request["wait"])
        try:
            closed = conn.recv(65536) == b""
        except socket.timeout:
            closed = False
        conn.settimeout(15)
        if closed:
            conn.close()
            return {"reply": "", "closed": True}
        data_sockets[next_id] = conn
        next_id += 1
        return {"reply": "", "closed": False, "data": next_id - 1}
    if op == "read_data":
        conn = data_sockets.pop(request["data"])
        chunks = []
        while True:
            chunk = conn.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        conn.close()
        return {"reply": "", "text": b"".join(chunks).decode()}
    if op == "connect":
        ftp = ftplib.FTP(timeout=15, source_address=(request["source"], 0))
        try:
            greeting = ftp.connect(request["host"], request["port"])
        except ftplib.Error:
            ftp.close()
            raise
        sessions[next_id] = ftp
        next_id += 1
        return {"reply": greeting, "session": next_id - 1}
    ftp = sessions[request["session"]]
    if op == "cmd":
        return {"reply": ftp.sendcmd(request["line"])}
    if op == "resp":
        return {"reply": ftp.getresp()}
    if op == "login":
        return {"reply": ftp.login(request["user"], request["password"])}
    if op == "store":
        with open(request["file"], "rb") as source:
            return {"reply": ftp.storbinary("STOR " + request["path"], source)}
    if op == "fetch":
        with open(request["file"], "ab" if request.get("rest") else "wb") as target:
            return {
                "reply": ftp.retrbinary(
                    "RETR " + request["path"], target.write, rest=request.get("rest")
                )
            }
    if op == "nlst":
        return {"reply": "226", "names": ftp.nlst()}
    if op == "close":
        del sessions[request["session"]]
        ftp.close()
        return {"reply": ""}
    raise ValueError("unknown op " + op)


for line in sys.stdin:
    try:
        answer = handle(json.loads(line))
    except ftplib.Error as error:
        answer = {"reply": str(error)}
    except Exception as error:  # noqa: BLE001 - reported to the test
        answer = {"error": type(error).__name__ + ": " + str(error)}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
for ftp in sessions.values():
    ftp.close()
for conn in data_sockets.values():
    conn.close()
