#!/usr/bin/env python3
"""A tiny fake GitLab on loopback for the tests: the API v4 subset used to find or create a project, plus git smart
HTTP (git http-backend as CGI) so the created project can be pushed to. Python stdlib and the git CLI only.

Usage: gitlab_api.py WORKDIR [--token TOKEN] [--project NAMESPACE/PATH ...]
WORKDIR is an existing empty directory. Bare repositories live in WORKDIR/repos/NAMESPACE/PATH.git.
Namespaces: the group `backups` (id 7) and the user namespace `root` (id 1, the token's user).
--token: the personal access token to accept (default: a random glpat-...).
--project: pre-create a project (repeatable), e.g. --project backups/existing.

API (under /api/v4; authentication: header `PRIVATE-TOKEN: TOKEN` or `Authorization: Bearer TOKEN`, else
401 {"message":"401 Unauthorized"}; ids are numbers or URL-encoded full paths such as backups%2Fproject):
  GET  /version, /user
  GET  /projects/:id                 200 project | 404 {"message":"404 Project Not Found"}
  POST /projects                     form, JSON or query: name and/or path, namespace_id, visibility, description,
                                     default_branch -> 201 project (and an empty bare repository with HEAD on the
                                     default branch, `http.receivepack true`)
                                     | 400 {"message":{"name":["has already been taken"],"path":[...]}} when taken
                                     | 400 {"error":"name, path are missing, at least one parameter must be provided"}
                                     | 404 {"message":"404 Namespace Not Found"}
  DELETE /projects/:id               202 {"message":"202 Accepted"} (the repository is removed)
  GET  /namespaces/:id, /groups/:id  200 | 404 {"message":"404 Namespace Not Found"} / {"message":"404 Group Not Found"}
  GET  /namespaces?search=S          200 [namespaces]
  other paths                        404 {"error":"404 Not Found"}
Every API request is appended to WORKDIR/requests.jsonl as one JSON object:
  {"method", "path" (raw, still URL-encoded, without query), "query", "token" (a token header was present),
   "authorized", "status", "params" (POST/PUT parameters, or null)}
Git over HTTP: http://ANYUSER:TOKEN@127.0.0.1:PORT/NAMESPACE/PATH.git (GitLab's oauth2:TOKEN form works); 401 with
`WWW-Authenticate: Basic realm="GitLab"` without valid credentials, 404 for unknown projects. Each git request is
appended to WORKDIR/git_requests.jsonl ({"method", "path", "query", "user", "status"}).
When ready, prints one JSON line:
  {"url": "http://127.0.0.1:PORT", "api_url": "http://127.0.0.1:PORT/api/v4", "token": ..., "token_file": ...,
   "namespace": "backups", "namespace_id": 7, "user": "root", "repos": WORKDIR/repos,
   "requests_log": WORKDIR/requests.jsonl, "git_requests_log": ..., "log": WORKDIR/gitlab.log}
Then waits until stdin reaches EOF or SIGTERM/SIGINT arrives, stops serving (and any running git process), exits 0.
On failure prints the reason to stderr and exits 1 without JSON.
"""
import base64, datetime, http.server, json, os, re, secrets, shutil, subprocess, tempfile, threading, urllib.parse

import launcher
from launcher import Failure

launcher.setup()

LOCK = threading.Lock()
RUNNING = set()  # git http-backend processes in flight
STATE = {}       # filled by start(): base, token, repos, git, logs, namespaces, projects, next_id
SERVER = None    # the HTTP server once a thread of this process serves it


def now():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def append_jsonl(path, record):
    with LOCK, open(path, "a") as f:
        f.write(json.dumps(record) + "\n")


def log(message):
    with LOCK, open(STATE["log"], "a") as f:
        f.write(f"[{now()}] {message}\n")


# --- model ------------------------------------------------------------------------------------------------------

def namespace_json(ns):
    base = STATE["base"]
    web = f"{base}/{ns['full_path']}" if ns["kind"] == "user" else f"{base}/groups/{ns['full_path']}"
    return {"id": ns["id"], "name": ns["name"], "path": ns["path"], "kind": ns["kind"], "full_path": ns["full_path"],
            "parent_id": None, "avatar_url": None, "web_url": web}


def group_json(ns):
    return dict(namespace_json(ns), description="", visibility="private", full_name=ns["name"],
                created_at=ns["created_at"], projects=[p for p in map(project_json, STATE["projects"].values())
                                                       if p["namespace"]["id"] == ns["id"]])


def repo_path(full_path):
    return os.path.join(STATE["repos"], f"{full_path}.git")


def repo_is_empty(full_path):
    r = subprocess.run([STATE["git"], "--git-dir", repo_path(full_path), "for-each-ref", "--count=1"],
                       capture_output=True, text=True)
    return r.returncode != 0 or not r.stdout.strip()


def project_json(p):
    base, ns = STATE["base"], STATE["namespaces"][p["namespace_id"]]
    full = f"{ns['full_path']}/{p['path']}"
    web = f"{base}/{full}"
    return {
        "id": p["id"], "description": p["description"], "name": p["name"],
        "name_with_namespace": f"{ns['name']} / {p['name']}", "path": p["path"], "path_with_namespace": full,
        "created_at": p["created_at"], "default_branch": p["default_branch"], "tag_list": [], "topics": [],
        "ssh_url_to_repo": f"git@127.0.0.1:{full}.git", "http_url_to_repo": f"{web}.git", "web_url": web,
        "readme_url": None, "avatar_url": None, "forks_count": 0, "star_count": 0,
        "last_activity_at": p["created_at"], "namespace": namespace_json(ns), "visibility": p["visibility"],
        "empty_repo": repo_is_empty(full), "archived": False,
        "_links": {"self": f"{base}/api/v4/projects/{p['id']}"},
    }


def find(table, ident, key):
    """table: dict id -> record; ident: a decimal id or a full path."""
    if ident.isdigit():
        return table.get(int(ident))
    for record in table.values():
        if key(record) == ident:
            return record
    return None


def project_full_path(p):
    return f"{STATE['namespaces'][p['namespace_id']]['full_path']}/{p['path']}"


PATH_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")


def create_project(params):
    """Returns (status, body)."""
    name, path = (params.get("name") or "").strip(), (params.get("path") or "").strip()
    if not name and not path:
        return 400, {"error": "name, path are missing, at least one parameter must be provided"}
    if not path:
        path = re.sub(r"[^a-z0-9_.-]+", "-", name.lower()).strip("-.") or "project"
    if not name:
        name = path
    visibility = params.get("visibility") or "private"
    if visibility not in ("private", "internal", "public"):
        return 400, {"error": "visibility does not have a valid value"}
    ns_id = params.get("namespace_id")
    if ns_id in (None, ""):
        ns_id = 1  # the user's namespace
    elif not str(ns_id).isdigit():
        return 400, {"error": "namespace_id is invalid"}
    ns = STATE["namespaces"].get(int(ns_id))
    if ns is None:
        return 404, {"message": "404 Namespace Not Found"}
    if not PATH_RE.match(path) or path.endswith((".git", ".atom")):
        return 400, {"message": {"path": ["can contain only letters, digits, '_', '-' and '.'. Cannot start with "
                                          "'-', end in '.git' or end in '.atom'"]}}
    with LOCK:
        taken = {}
        for p in STATE["projects"].values():
            if p["namespace_id"] == ns["id"]:
                if p["name"] == name:
                    taken["name"] = ["has already been taken"]
                if p["path"] == path:
                    taken["path"] = ["has already been taken"]
        if taken:
            return 400, {"message": taken}
        pid = STATE["next_id"]
        STATE["next_id"] += 1
        project = {"id": pid, "name": name, "path": path, "namespace_id": ns["id"], "visibility": visibility,
                   "description": params.get("description") or None,
                   "default_branch": params.get("default_branch") or "main", "created_at": now()}
        repo = repo_path(f"{ns['full_path']}/{path}")
        os.makedirs(os.path.dirname(repo), exist_ok=True)
        for argv in ([STATE["git"], "init", "--bare", "--quiet", f"--initial-branch={project['default_branch']}", repo],
                     [STATE["git"], "--git-dir", repo, "config", "http.receivepack", "true"]):
            r = subprocess.run(argv, capture_output=True, text=True)
            if r.returncode != 0:
                return 500, {"message": f"500 Internal Server Error: {r.stderr.strip()}"}
        STATE["projects"][pid] = project
    log(f"created project {ns['full_path']}/{path} (id {pid}) in {repo}")
    return 201, project_json(project)


# --- HTTP -------------------------------------------------------------------------------------------------------

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "polyarchiv-fake-gitlab"

    def log_message(self, fmt, *args):
        log(f"{self.client_address[0]} {fmt % args}")

    # body ----------------------------------------------------------------------------------------------------
    def read_body_to(self, out):
        """Copies the request body (Content-Length or chunked) to the file out; returns its size."""
        size = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(65537)
                length = int(line.split(b";")[0].strip() or b"0", 16)
                if length == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                remaining = length
                while remaining:
                    chunk = self.rfile.read(min(remaining, 1 << 20))
                    if not chunk:
                        raise ConnectionError("request body cut short")
                    out.write(chunk)
                    remaining -= len(chunk)
                size += length
                self.rfile.readline(3)  # CRLF after the chunk
        else:
            remaining = int(self.headers.get("Content-Length") or 0)
            while remaining:
                chunk = self.rfile.read(min(remaining, 1 << 20))
                if not chunk:
                    raise ConnectionError("request body cut short")
                out.write(chunk)
                size += len(chunk)
                remaining -= len(chunk)
        return size

    def read_body(self):
        with tempfile.SpooledTemporaryFile(max_size=1 << 20) as f:
            self.read_body_to(f)
            f.seek(0)
            return f.read()

    def send_json(self, status, body, extra_headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in extra_headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    # dispatch ------------------------------------------------------------------------------------------------
    def handle_any(self):
        raw_path, _, query = self.path.partition("?")
        if raw_path == "/api/v4" or raw_path.startswith("/api/v4/"):
            self.handle_api(raw_path, query)
        else:
            self.handle_git(raw_path, query)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = handle_any

    # API -----------------------------------------------------------------------------------------------------
    def handle_api(self, raw_path, query):
        token = self.headers.get("PRIVATE-TOKEN")
        auth = self.headers.get("Authorization", "")
        if token is None and auth.lower().startswith("bearer "):
            token = auth[7:].strip()
        params = None
        if self.command in ("POST", "PUT"):
            body = self.read_body()
            ctype = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
            params = dict(urllib.parse.parse_qsl(query))
            if ctype == "application/json" and body.strip():
                try:
                    decoded = json.loads(body)
                except ValueError:
                    decoded = None
                if not isinstance(decoded, dict):
                    return self.finish_api(raw_path, query, token, False, 400, {"error": "invalid JSON body"}, params)
                params.update({k: (str(v).lower() if isinstance(v, bool) else v) for k, v in decoded.items()})
            elif body:
                params.update(urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
        else:
            self.read_body()  # discard
        authorized = token is not None and secrets.compare_digest(token, STATE["token"])
        if not authorized:
            return self.finish_api(raw_path, query, token, False, 401, {"message": "401 Unauthorized"}, params)
        status, body = self.route(raw_path, query, params)
        self.finish_api(raw_path, query, token, True, status, body, params)

    def finish_api(self, raw_path, query, token, authorized, status, body, params):
        append_jsonl(STATE["requests_log"], {"method": self.command, "path": raw_path, "query": query,
                                             "token": token is not None, "authorized": authorized,
                                             "status": status, "params": params})
        self.send_json(status, body)

    def route(self, raw_path, query, params):
        segments = [urllib.parse.unquote(s) for s in raw_path[len("/api/v4/"):].split("/")]
        not_found = (404, {"error": "404 Not Found"})
        method = self.command
        if method == "GET" and segments == ["version"]:
            return 200, {"version": "16.11.0", "revision": "polyarchiv-fake"}
        if method == "GET" and segments == ["user"]:
            return 200, {"id": 1, "username": "root", "name": "Administrator", "state": "active",
                         "web_url": f"{STATE['base']}/root", "is_admin": True}
        if segments[0] == "projects":
            if len(segments) == 1:
                return create_project(params) if method == "POST" else not_found
            if len(segments) != 2:
                return not_found
            project = find(STATE["projects"], segments[1], project_full_path)
            if method == "GET":
                return (200, project_json(project)) if project else (404, {"message": "404 Project Not Found"})
            if method == "DELETE":
                if not project:
                    return 404, {"message": "404 Project Not Found"}
                with LOCK:
                    STATE["projects"].pop(project["id"], None)
                shutil.rmtree(repo_path(project_full_path(project)), ignore_errors=True)
                return 202, {"message": "202 Accepted"}
            return not_found
        if segments[0] in ("namespaces", "groups") and method == "GET":
            table = STATE["namespaces"]
            if segments[0] == "groups":
                table = {k: v for k, v in table.items() if v["kind"] == "group"}
            if len(segments) == 1:
                search = dict(urllib.parse.parse_qsl(query)).get("search", "").lower()
                shown = namespace_json if segments[0] == "namespaces" else group_json
                return 200, [shown(ns) for ns in table.values() if search in ns["full_path"].lower()]
            if len(segments) != 2:
                return not_found
            ns = find(table, segments[1], lambda n: n["full_path"])
            if segments[0] == "namespaces":
                return (200, namespace_json(ns)) if ns else (404, {"message": "404 Namespace Not Found"})
            return (200, group_json(ns)) if ns else (404, {"message": "404 Group Not Found"})
        return not_found

    # git smart HTTP ------------------------------------------------------------------------------------------
    def git_user(self):
        """The user name when the Basic credentials carry the token as password (any user name), else None."""
        auth = self.headers.get("Authorization", "")
        if not auth.lower().startswith("basic "):
            return None
        try:
            user, _, password = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return (user or "token") if secrets.compare_digest(password, STATE["token"]) else None

    def handle_git(self, raw_path, query):
        path = urllib.parse.unquote(raw_path)
        user = self.git_user()
        record = {"method": self.command, "path": raw_path, "query": query, "user": user}
        m = re.match(r"^/(.+?)\.git(/.*)?$", path)
        if user is None:
            self.read_body()
            append_jsonl(STATE["git_requests_log"], dict(record, status=401))
            return self.send_json(401, {"message": "HTTP Basic: Access denied"},
                                  [("WWW-Authenticate", 'Basic realm="GitLab"')])
        known = m and ".." not in m.group(1).split("/") and any(
            project_full_path(p) == m.group(1) for p in list(STATE["projects"].values()))
        if not known or not os.path.isdir(repo_path(m.group(1))):
            self.read_body()
            append_jsonl(STATE["git_requests_log"], dict(record, status=404))
            return self.send_json(404, {"message": "404 Not Found"})
        status = self.run_backend(f"/{m.group(1)}.git{m.group(2) or ''}", query, user)
        append_jsonl(STATE["git_requests_log"], dict(record, status=status))

    def run_backend(self, path_info, query, user):
        with tempfile.TemporaryFile(dir=STATE["work"]) as body:
            length = self.read_body_to(body)
            body.seek(0)
            env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "GIT_PROJECT_ROOT": STATE["repos"],
                   "GIT_HTTP_EXPORT_ALL": "1", "GATEWAY_INTERFACE": "CGI/1.1", "SERVER_PROTOCOL": "HTTP/1.1",
                   "REQUEST_METHOD": self.command, "PATH_INFO": path_info, "QUERY_STRING": query,
                   "REMOTE_USER": user, "REMOTE_ADDR": self.client_address[0], "CONTENT_LENGTH": str(length),
                   "CONTENT_TYPE": self.headers.get("Content-Type", ""), "HOME": STATE["work"]}
            for header, var in (("Content-Encoding", "HTTP_CONTENT_ENCODING"), ("Git-Protocol", "GIT_PROTOCOL"),
                                ("Accept", "HTTP_ACCEPT")):
                if self.headers.get(header):
                    env[var] = self.headers[header]
            with open(STATE["backend_log"], "ab") as err:
                proc = subprocess.Popen([STATE["git"], "http-backend"], stdin=body, stdout=subprocess.PIPE,
                                        stderr=err, env=env, cwd=STATE["work"])
            with LOCK:
                RUNNING.add(proc)
            try:
                status, reason, headers = 200, "OK", []
                while True:
                    line = proc.stdout.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    key, _, value = line.decode("latin-1").rstrip("\r\n").partition(":")
                    if key.lower() == "status":
                        code, _, reason = value.strip().partition(" ")
                        status = int(code)
                    else:
                        headers.append((key.strip(), value.strip()))
                self.send_response(status, reason or None)
                for k, v in headers:
                    self.send_header(k, v)
                self.send_header("Connection", "close")  # the body ends when the connection closes
                self.end_headers()
                self.close_connection = True
                while True:
                    chunk = proc.stdout.read1(1 << 16)
                    if not chunk:
                        break
                    self.wfile.write(chunk)
                self.wfile.flush()
            finally:
                proc.stdout.close()
                proc.wait()
                with LOCK:
                    RUNNING.discard(proc)
            return status


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128


def start(work, token, projects):
    global SERVER
    git = shutil.which("git")
    if git is None:
        raise Failure("git is missing: apt-get install git")
    exec_path = subprocess.run([git, "--exec-path"], capture_output=True, text=True).stdout.strip()
    if not os.access(os.path.join(exec_path, "git-http-backend"), os.X_OK):
        raise Failure(f"git-http-backend is missing in {exec_path}: apt-get install git")
    server = Server(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    base = f"http://127.0.0.1:{port}"
    repos = f"{work}/repos"
    os.makedirs(repos)
    created = now()
    token_file = f"{work}/gitlab.token"
    launcher.write_secret(token_file, token, exclusive=True)
    STATE.update(work=work, base=base, token=token, repos=repos, git=git, next_id=1, projects={},
                 log=f"{work}/gitlab.log", backend_log=f"{work}/git-http-backend.log",
                 requests_log=f"{work}/requests.jsonl", git_requests_log=f"{work}/git_requests.jsonl",
                 namespaces={
                     1: {"id": 1, "name": "Administrator", "path": "root", "full_path": "root", "kind": "user",
                         "created_at": created},
                     7: {"id": 7, "name": "backups", "path": "backups", "full_path": "backups", "kind": "group",
                         "created_at": created}})
    for full in projects:
        ns_path, _, path = full.strip("/").rpartition("/")
        ns = find(STATE["namespaces"], ns_path or "root", lambda n: n["full_path"])
        if ns is None:
            raise Failure(f"--project {full}: unknown namespace {ns_path!r} (known: backups, root)")
        status, body = create_project({"path": path, "namespace_id": str(ns["id"])})
        if status != 201:
            raise Failure(f"--project {full}: {status} {json.dumps(body)}")
    open(STATE["requests_log"], "a").close()
    open(STATE["git_requests_log"], "a").close()
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="http", daemon=True).start()
    SERVER = server  # only once served: shutdown() waits for serve_forever()
    log(f"serving on {base}, repositories in {repos}")
    return {"url": base, "api_url": f"{base}/api/v4", "token": token, "token_file": token_file,
            "namespace": "backups", "namespace_id": 7, "user": "root", "repos": repos,
            "requests_log": STATE["requests_log"], "git_requests_log": STATE["git_requests_log"], "log": STATE["log"]}


def stop():
    if SERVER is not None:
        SERVER.shutdown()
        SERVER.server_close()
    with LOCK:
        running = list(RUNNING)
    for proc in running:
        try:
            proc.kill()
            proc.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass


def main():
    parser = launcher.argument_parser("fake GitLab API v4 + git smart HTTP on loopback until stdin closes")
    parser.add_argument("--token", help="the personal access token to accept (default: random)")
    parser.add_argument("--project", action="append", default=[], metavar="NAMESPACE/PATH",
                        help="pre-create a project (repeatable)")
    args, work = launcher.parse_args(parser)
    token = args.token or "glpat-" + secrets.token_urlsafe(15)
    launcher.serve(lambda: start(work, token, args.project), stop=stop)


if __name__ == "__main__":
    main()
