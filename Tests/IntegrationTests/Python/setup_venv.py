"""Makes sure VENV is a virtual environment with websockets >= 13 installed.

    python3 setup_venv.py VENV

Creates it with `python3 -m venv` and `pip install websockets` when missing or broken, and
reuses it otherwise. An exclusive lock on VENV.lock serializes concurrent runs (parallel tests,
or two `swift test` at once). Exits non-zero with the reason on stderr when it cannot.
"""

import fcntl
import os
import subprocess
import sys

CHECK = ("import websockets, websockets.asyncio.client, websockets.asyncio.server; "
         "assert int(websockets.__version__.split('.')[0]) >= 13, websockets.__version__")


def is_ready(venv):
    python = os.path.join(venv, "bin", "python")
    if not os.access(python, os.X_OK):
        return False
    return subprocess.run([python, "-c", CHECK], capture_output=True).returncode == 0


def run(command):
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed ({result.returncode}):\n{result.stdout}{result.stderr}")


def main():
    venv = os.path.abspath(sys.argv[1])
    os.makedirs(os.path.dirname(venv), exist_ok=True)
    with open(venv + ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if is_ready(venv):
            return
        run([sys.executable, "-m", "venv", "--clear", venv])
        python = os.path.join(venv, "bin", "python")
        run([python, "-m", "pip", "install", "--disable-pip-version-check", "--quiet", "websockets>=13"])
        if not is_ready(venv):
            sys.exit(f"websockets >= 13 is still not importable from {python} after installing it")


if __name__ == "__main__":
    main()
