"""A same-run stand-in for a Python ops charm's update-status: NOT ops, which is not installable
here (no PyPI), and NOT the Python Concourse charm (issue 9's 307 ms is that charm's figure).

It does what ops 2.x does around a minimal update-status handler, with the same hook tools the Go
charm gets: the framework's imports (yaml, sqlite3, logging, json, subprocess...), logging set up
to send every record through juju-log ("ops ... up and running.", "Emitting Juju event
update_status.": two calls), metadata.yaml, actions.yaml and config.yaml parsed with yaml, the
SQLite state file opened for deferred events and committed at the end; and as the handler, the
same job as the Go fast path: the worker asked of Pebble's API, status-get, status-set only if it
differs. A real charm does at least this much, so its time is a floor for the Python side.
"""

import http.client
import json
import logging
import os
import pathlib
import pickle
import socket
import sqlite3
import subprocess
import sys

import yaml


def tool(*argv):
    return subprocess.run(argv, capture_output=True, check=True).stdout


class JujuLogHandler(logging.Handler):
    def emit(self, record):
        tool("juju-log", "--log-level", record.levelname, "--", self.format(record))


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost")
        self.path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def main():
    root = logging.getLogger()
    root.setLevel(logging.DEBUG)
    root.addHandler(JujuLogHandler())
    log = logging.getLogger("ops.main")
    log.debug("ops 2.17.0 up and running.")

    # libyaml's loader when there is one, as ops's own yaml helper prefers it.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    charm_dir = pathlib.Path(os.environ["JUJU_CHARM_DIR"])
    meta = yaml.load((charm_dir / "metadata.yaml").read_text(), Loader=loader)
    actions = yaml.load((charm_dir / "actions.yaml").read_text(), Loader=loader)
    config = yaml.load((charm_dir / "config.yaml").read_text(), Loader=loader)
    assert meta["name"] and actions is not None and config["options"]

    db = sqlite3.connect(str(charm_dir / ".unit-state.db"), isolation_level=None, timeout=60)
    db.execute("CREATE TABLE IF NOT EXISTS snapshot (handle TEXT PRIMARY KEY, data BLOB)")
    db.execute("CREATE TABLE IF NOT EXISTS notice (sequence INTEGER PRIMARY KEY AUTOINCREMENT, "
               "event_path TEXT, observer_path TEXT, method_name TEXT)")
    db.execute("BEGIN")
    deferred = db.execute("SELECT event_path, observer_path, method_name FROM notice").fetchall()
    assert not deferred
    log.debug("Emitting Juju event update_status.")

    # The handler: is the worker up, and is the status what it should be?
    conn = UnixHTTPConnection(os.path.join(os.environ["PEBBLE"], ".pebble.socket"))
    conn.request("GET", "/v1/services?names=concourse-worker")
    services = json.loads(conn.getresponse().read())["result"]
    conn.close()
    running = bool(services) and services[0]["current"] == "active"
    want = ("active" if running else "blocked", os.environ["HOOKCOST_STATUS"] if running else "concourse-worker is not running")
    have = json.loads(tool("status-get", "--include-data", "--format=json"))
    if (have["status"], have["message"]) != want:
        tool("status-set", want[0], "--", want[1])

    db.execute("REPLACE INTO snapshot VALUES (?, ?)", ("WorkersCharm/StoredStateData[_stored]", pickle.dumps({"running": running})))
    db.execute("COMMIT")
    db.close()


if __name__ == "__main__":
    sys.exit(main())
