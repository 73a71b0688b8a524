//! The Alertmanager client over https, against a real TLS server (Python's
//! `http.server` wrapped in `ssl`, with a certificate `openssl` makes): the
//! configured CA is trusted, an unknown CA is refused, and
//! `tls_insecure_skip_verify` skips verification.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use balsa_ruler::notifier::{AlertmanagerClientConfig, Notifier, NotifyAlert};

const SERVER: &str = r#"
import http.server, ssl, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        print("POST", self.path, body.decode(), flush=True)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
srv = http.server.HTTPServer(("127.0.0.1", 0), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
print("PORT", srv.server_address[1], flush=True)
srv.serve_forever()
"#;

struct Server {
    child: Child,
    port: u16,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tools() -> bool {
    let ok = |cmd: &str| Command::new(cmd).arg("--version").output().is_ok_and(|o| o.status.success());
    if !(ok("openssl") || Command::new("openssl").arg("version").output().is_ok()) || !ok("python3") {
        eprintln!("SKIPPED: notifier tls test needs openssl and python3");
        return false;
    }
    true
}

/// A CA (`ca.pem`) and a server certificate for 127.0.0.1 it signed
/// (`cert.pem`, `key.pem`): webpki refuses a CA certificate used as the
/// server's own.
fn make_cert(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=balsa-test-ca"]
        .into_iter()
        .chain(["-keyout", "ca.key", "-out", "ca.pem"])
        .collect::<Vec<_>>());
    run(&["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1", "-keyout", "key.pem", "-out", "leaf.csr"]);
    run(&[
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);
}

fn start(dir: &Path) -> Server {
    let mut child = Command::new("python3")
        .arg("-c")
        .arg(SERVER)
        .arg(dir.join("cert.pem"))
        .arg(dir.join("key.pem"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let out = BufReader::new(child.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = lines.recv_timeout(Duration::from_secs(10)).expect("tls server started");
    let port = first.strip_prefix("PORT ").unwrap().parse().unwrap();
    Server { child, port, lines }
}

fn alert() -> NotifyAlert {
    NotifyAlert {
        labels: vec![("alertname".into(), "OverTls".into())],
        annotations: vec![],
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms: None,
        generator_url: String::new(),
    }
}

/// Sends one alert; returns the POST the server got, if any.
async fn send(server: &Server, client: &AlertmanagerClientConfig) -> (Option<String>, u64) {
    let url = format!("https://127.0.0.1:{}/am", server.port);
    let n = Notifier::new(&url, client, 10, Duration::from_secs(5)).unwrap();
    n.send("fake", vec![alert()]);
    tokio::time::timeout(Duration::from_secs(10), n.flush()).await.unwrap();
    (server.lines.recv_timeout(Duration::from_millis(500)).ok(), n.stats().errors)
}

#[tokio::test]
async fn alerts_go_over_tls_with_the_configured_ca_only() {
    if !tools() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_cert(dir.path());
    let server = start(dir.path());

    // Trusted through tls_ca_path.
    let with_ca =
        AlertmanagerClientConfig { tls_ca_path: dir.path().join("ca.pem").display().to_string(), ..Default::default() };
    let (got, errors) = send(&server, &with_ca).await;
    let got = got.expect("the alert arrived over tls");
    assert!(got.starts_with("POST /am/api/v2/alerts "), "{got}");
    assert!(got.contains("OverTls"), "{got}");
    assert_eq!(errors, 0);

    // An unknown CA: refused, counted, nothing arrives.
    let (got, errors) = send(&server, &AlertmanagerClientConfig::default()).await;
    assert_eq!(got, None);
    assert_eq!(errors, 1);

    // Verification skipped on request.
    let insecure = AlertmanagerClientConfig { tls_insecure_skip_verify: true, ..Default::default() };
    let (got, errors) = send(&server, &insecure).await;
    assert!(got.is_some_and(|l| l.contains("OverTls")));
    assert_eq!(errors, 0);
}

#[test]
fn a_missing_or_bad_ca_file_is_an_error_naming_the_key() {
    let missing = AlertmanagerClientConfig { tls_ca_path: "/nonexistent/ca.pem".into(), ..Default::default() };
    let err = Notifier::new("https://127.0.0.1:1", &missing, 10, Duration::from_secs(1)).unwrap_err();
    assert!(err.contains("ruler.alertmanager_client.tls_ca_path"), "{err}");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bad.pem"), "not a certificate").unwrap();
    let bad = AlertmanagerClientConfig {
        tls_ca_path: dir.path().join("bad.pem").display().to_string(),
        ..Default::default()
    };
    let err = Notifier::new("https://127.0.0.1:1", &bad, 10, Duration::from_secs(1)).unwrap_err();
    assert!(err.contains("tls_ca_path"), "{err}");
}
