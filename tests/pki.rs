//! The PKI, checked with the real tools: `openssl verify`, `openssl x509 -ext ...`, `openssl
//! pkey`, `kubectl config view`. Every test works in its own temporary cluster directory.

use base64::Engine as _;
use kubewiz::cluster_dir::ClusterDir;
use kubewiz::config::{self, ClusterSpec, Severity};
use kubewiz::pki::{self, Change, PkiReport};
use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const THREE_MASTERS: &str = "\
name: lab
hosts:
  - { name: m1, address: 10.77.0.11, roles: [etcd, master, node] }
  - { name: m2, address: 10.77.0.12, roles: [etcd, master, node] }
  - { name: m3, address: 10.77.0.13, roles: [etcd, master, node] }
  - { name: n4, address: 10.77.0.21, roles: [node] }
network: { pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12, dns_domain: k8s.lab }
apiserver: { vip: 10.77.0.100, extra_sans: [k8s.example.internal, 192.0.2.7] }
";

/// A cluster directory with `yaml` as its cluster file (validated: no errors).
struct Lab {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dir: ClusterDir,
    spec: ClusterSpec,
}

impl Lab {
    fn new(yaml: &str) -> Lab {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        let mut lab = Lab {
            dir: ClusterDir::of_cluster_file(&root.join("cluster.yaml")),
            _tmp: tmp,
            root,
            spec: spec(THREE_MASTERS),
        };
        lab.set(yaml);
        lab
    }

    /// Replaces the cluster file.
    fn set(&mut self, yaml: &str) {
        std::fs::write(self.root.join("cluster.yaml"), yaml).unwrap();
        self.spec = spec(yaml);
    }

    fn ensure(&self) -> PkiReport {
        pki::ensure(&self.dir, &self.spec).unwrap_or_else(|e| panic!("ensure: {e:#}"))
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.root.join(rel)
    }

    fn read(&self, rel: &str) -> Vec<u8> {
        std::fs::read(self.path(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
    }

    /// Every file under pki/ (not the backups) and kubeconfigs/, with its bytes.
    fn snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for top in ["pki", "kubeconfigs"] {
            for p in files_under(&self.path(top)) {
                let rel = p.strip_prefix(&self.root).unwrap().display().to_string();
                if rel.starts_with("pki/backup/") || rel.ends_with(".lock") {
                    continue;
                }
                out.insert(rel, std::fs::read(&p).unwrap());
            }
        }
        out
    }
}

fn spec(yaml: &str) -> ClusterSpec {
    let spec = config::parse_str(yaml).unwrap_or_else(|f| panic!("{f:?}"));
    let errors: Vec<_> = config::validate(&spec)
        .into_iter()
        .filter(|f| f.is_error())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    spec
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Runs openssl (or another tool); panics with its stderr unless it succeeds.
fn run(cwd: &Path, program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn openssl(lab: &Lab, args: &[&str]) -> String {
    run(&lab.root, "openssl", args)
}

/// `openssl x509 -noout -ext ...` of a certificate.
fn ext(lab: &Lab, crt: &str, which: &str) -> String {
    openssl(lab, &["x509", "-in", crt, "-noout", "-ext", which])
}

fn subject(lab: &Lab, crt: &str) -> String {
    openssl(lab, &["x509", "-in", crt, "-noout", "-subject"])
        .trim()
        .to_string()
}

fn verify(lab: &Lab, ca: &str, crt: &str) {
    verify_all(lab, ca, &[crt]);
}

/// `openssl verify -CAfile CA CRT...`: every certificate chains to the CA.
fn verify_all(lab: &Lab, ca: &str, crts: &[&str]) {
    let mut args = vec!["verify", "-CAfile", ca];
    args.extend(crts);
    let out = openssl(lab, &args);
    let expected: String = crts.iter().map(|c| format!("{c}: OK\n")).collect();
    assert_eq!(out, expected);
}

/// The public key of a private key and of a certificate, as openssl derives them.
fn assert_key_matches(lab: &Lab, key: &str, crt: &str) {
    let from_key = openssl(lab, &["pkey", "-in", key, "-pubout"]);
    let from_cert = openssl(lab, &["x509", "-in", crt, "-noout", "-pubkey"]);
    assert_eq!(from_key, from_cert, "{key} does not match {crt}");
}

fn mode(lab: &Lab, rel: &str) -> u32 {
    std::fs::metadata(lab.path(rel))
        .unwrap()
        .permissions()
        .mode()
        & 0o777
}

fn change<'a>(report: &'a PkiReport, file: &str) -> &'a Change {
    &report
        .entry(file)
        .unwrap_or_else(|| panic!("{file} not in the report:\n{report}"))
        .change
}

const LEAVES_BY_CA: [(&str, &[&str]); 3] = [
    (
        "pki/etcd/ca.crt",
        &[
            "pki/etcd/m1/server.crt",
            "pki/etcd/m1/peer.crt",
            "pki/etcd/m2/server.crt",
            "pki/etcd/m2/peer.crt",
            "pki/etcd/m3/server.crt",
            "pki/etcd/m3/peer.crt",
            "pki/etcd/healthcheck-client.crt",
            "pki/apiserver-etcd-client.crt",
            "pki/flannel-etcd-client.crt",
        ],
    ),
    (
        "pki/ca.crt",
        &[
            "pki/apiserver.crt",
            "pki/apiserver-kubelet-client.crt",
            "pki/admin.crt",
            "pki/controller-manager.crt",
            "pki/scheduler.crt",
            "pki/kube-proxy.crt",
        ],
    ),
    ("pki/front-proxy-ca.crt", &["pki/front-proxy-client.crt"]),
];

#[test]
fn kubeadm_layout_checked_with_openssl() {
    let lab = Lab::new(THREE_MASTERS);
    let report = lab.ensure();
    assert!(
        report.entries.iter().all(|e| e.change == Change::Created),
        "{report}"
    );
    assert_eq!(report.backup, None);

    // CAs: self-signed, CA:TRUE, keyCertSign + cRLSign, 10 years.
    for (ca, cn) in [
        ("pki/ca.crt", "kubernetes"),
        ("pki/etcd/ca.crt", "etcd-ca"),
        ("pki/front-proxy-ca.crt", "front-proxy-ca"),
    ] {
        verify(&lab, ca, ca);
        assert_eq!(subject(&lab, ca), format!("subject=CN = {cn}"));
        let bc = ext(&lab, ca, "basicConstraints");
        assert!(
            bc.contains("critical") && bc.contains("CA:TRUE"),
            "{ca}: {bc}"
        );
        let ku = ext(&lab, ca, "keyUsage");
        assert!(ku.contains("Certificate Sign, CRL Sign"), "{ca}: {ku}");
        let text = openssl(&lab, &["x509", "-in", ca, "-noout", "-text"]);
        assert!(
            text.contains("Public-Key: (2048 bit)"),
            "{ca}: RSA-2048 by default"
        );
        // Valid 3649 days from now, not 3651.
        let end = openssl(
            &lab,
            &["x509", "-in", ca, "-noout", "-checkend", "315273600"],
        );
        assert!(end.contains("will not expire"), "{ca}: {end}");
        assert!(
            !checkend(&lab, ca, 315_446_400),
            "{ca} lasts no more than 10 years"
        );
    }

    // Every leaf chains to its CA, key matches, CA:FALSE, 1 year.
    for (ca, leaves) in LEAVES_BY_CA {
        verify_all(&lab, ca, leaves);
        for crt in leaves.iter().copied() {
            let key = crt.replace(".crt", ".key");
            assert_key_matches(&lab, &key, crt);
            assert_eq!(mode(&lab, &key), 0o600, "{key}");
            assert_eq!(mode(&lab, crt), 0o644, "{crt}");
            let ku = ext(&lab, crt, "basicConstraints,keyUsage");
            assert!(ku.contains("CA:FALSE"), "{crt}: {ku}");
            assert!(
                ku.contains("Digital Signature, Key Encipherment"),
                "{crt}: {ku}"
            );
            let in_a_year = openssl(
                &lab,
                &["x509", "-in", crt, "-noout", "-checkend", "31449600"],
            );
            assert!(in_a_year.contains("will not expire"), "{crt} lasts a year");
            assert!(
                !checkend(&lab, crt, 31_622_400),
                "{crt} lasts no more than a year"
            );
        }
    }
    for key in [
        "pki/ca.key",
        "pki/etcd/ca.key",
        "pki/front-proxy-ca.key",
        "pki/sa.key",
    ] {
        assert_eq!(mode(&lab, key), 0o600, "{key}");
    }
    assert_key_matches(&lab, "pki/ca.key", "pki/ca.crt");
    // The RSA way too: same modulus.
    let m_key = openssl(
        &lab,
        &["rsa", "-in", "pki/apiserver.key", "-noout", "-modulus"],
    );
    let m_crt = openssl(
        &lab,
        &["x509", "-in", "pki/apiserver.crt", "-noout", "-modulus"],
    );
    assert_eq!(m_key, m_crt);

    // etcd members: their own IP and name, loopback; serverAuth + clientAuth.
    for (host, ip) in [
        ("m1", "10.77.0.11"),
        ("m2", "10.77.0.12"),
        ("m3", "10.77.0.13"),
    ] {
        for kind in ["server", "peer"] {
            let crt = format!("pki/etcd/{host}/{kind}.crt");
            assert_eq!(subject(&lab, &crt), format!("subject=CN = {host}"));
            let san = ext(&lab, &crt, "subjectAltName");
            assert_eq!(
                san.lines().nth(1).unwrap().trim(),
                format!("IP Address:{ip}, DNS:{host}, IP Address:127.0.0.1, DNS:localhost"),
                "{crt}"
            );
            let eku = ext(&lab, &crt, "extendedKeyUsage");
            assert!(
                eku.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
                "{crt}: {eku}"
            );
        }
    }

    // The API server: kubeadm's names, service IP, masters, VIP, loopback, extra SANs.
    let san = ext(&lab, "pki/apiserver.crt", "subjectAltName");
    assert_eq!(
        san.lines().nth(1).unwrap().trim(),
        "DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, \
         DNS:kubernetes.default.svc.k8s.lab, IP Address:10.96.0.1, IP Address:10.77.0.11, DNS:m1, \
         IP Address:10.77.0.12, DNS:m2, IP Address:10.77.0.13, DNS:m3, IP Address:10.77.0.100, \
         IP Address:127.0.0.1, DNS:k8s.example.internal, IP Address:192.0.2.7"
    );
    let eku = ext(&lab, "pki/apiserver.crt", "extendedKeyUsage");
    assert!(eku.contains("TLS Web Server Authentication") && !eku.contains("Client"));

    // Clients: CN/O, clientAuth only, no SANs.
    for (crt, subj) in [
        ("pki/admin.crt", "CN = kubernetes-admin, O = system:masters"),
        (
            "pki/controller-manager.crt",
            "CN = system:kube-controller-manager",
        ),
        ("pki/scheduler.crt", "CN = system:kube-scheduler"),
        ("pki/kube-proxy.crt", "CN = system:kube-proxy"),
        (
            "pki/apiserver-kubelet-client.crt",
            "CN = kube-apiserver-kubelet-client, O = system:masters",
        ),
        (
            "pki/apiserver-etcd-client.crt",
            "CN = kube-apiserver-etcd-client",
        ),
        (
            "pki/etcd/healthcheck-client.crt",
            "CN = kube-etcd-healthcheck-client",
        ),
        ("pki/front-proxy-client.crt", "CN = front-proxy-client"),
    ] {
        assert_eq!(subject(&lab, crt), format!("subject={subj}"), "{crt}");
        let eku = ext(&lab, crt, "extendedKeyUsage");
        assert!(
            eku.contains("TLS Web Client Authentication") && !eku.contains("Server"),
            "{crt}: {eku}"
        );
        assert!(!ext(&lab, crt, "subjectAltName").contains("DNS"), "{crt}");
    }

    // The service-account pair.
    let derived = openssl(&lab, &["pkey", "-in", "pki/sa.key", "-pubout"]);
    assert_eq!(derived.as_bytes(), lab.read("pki/sa.pub"));
    assert_eq!(mode(&lab, "pki/sa.pub"), 0o644);

    // Kubeconfigs: 0600, one per component, none per node.
    let confs = [
        "admin.conf",
        "controller-manager.conf",
        "scheduler.conf",
        "kube-proxy.conf",
    ];
    for conf in confs {
        assert_eq!(mode(&lab, &format!("kubeconfigs/{conf}")), 0o600, "{conf}");
    }

    // No kubelet client certificates: nodes get theirs by TLS bootstrapping when they join.
    assert!(!lab.path("pki/kubelet").exists());
    for crt in cert_files(&lab) {
        let subj = subject(&lab, &crt);
        assert!(
            !subj.contains("system:node") && !subj.contains("system:nodes"),
            "{crt}: {subj}"
        );
    }
    // What is there: the CAs, the leaves above, the service-account pair, the manifest.
    let mut expected: Vec<String> = ["pki/manifest.json", "pki/sa.key", "pki/sa.pub"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    for (ca, leaves) in LEAVES_BY_CA {
        for crt in std::iter::once(ca).chain(leaves.iter().copied()) {
            expected.push(crt.into());
            expected.push(crt.replace(".crt", ".key"));
        }
    }
    expected.extend(confs.iter().map(|c| format!("kubeconfigs/{c}")));
    expected.sort();
    let on_disk: Vec<String> = lab.snapshot().into_keys().collect();
    assert_eq!(on_disk, expected);

    // Our own check agrees.
    let check = pki::check(&lab.dir, &lab.spec, 30).unwrap();
    assert!(check.findings.is_empty(), "{:?}", check.findings);

    // The manifest records every leaf's inputs.
    let m = pki::manifest(&lab.dir).unwrap();
    let api = &m.leaves["apiserver"];
    assert_eq!(api.subject, "CN=kube-apiserver");
    assert!(api.sans.contains(&"IP 10.77.0.100".to_string()));
    assert_eq!(api.key_algorithm, "RSA-2048");
    assert_eq!(api.issuer_fingerprint, m.cas["ca"].fingerprint);
    assert_eq!(m.cas["ca"].origin, "generated");
    assert_eq!(m.leaves.len(), 16);
}

/// Every `.crt` under pki/ (not the backups), relative to the cluster directory.
fn cert_files(lab: &Lab) -> Vec<String> {
    lab.snapshot()
        .into_keys()
        .filter(|f| f.ends_with(".crt"))
        .collect()
}

/// `openssl x509 -checkend`: whether the certificate is still valid `secs` from now.
fn checkend(lab: &Lab, crt: &str, secs: u64) -> bool {
    Command::new("openssl")
        .args(["x509", "-in", crt, "-noout", "-checkend", &secs.to_string()])
        .current_dir(&lab.root)
        .output()
        .unwrap()
        .status
        .success()
}

#[test]
fn second_run_changes_nothing() {
    let lab = Lab::new(THREE_MASTERS);
    lab.ensure();
    let before = lab.snapshot();
    let report = lab.ensure();
    assert!(
        report.entries.iter().all(|e| e.change == Change::Unchanged),
        "{report}"
    );
    assert!(!report.changed());
    assert_eq!(lab.snapshot(), before, "a second run rewrote files");
    assert!(!lab.path("pki/backup").exists());
}

#[test]
fn ca_provided_by_the_user_is_used() {
    let lab = Lab::new(THREE_MASTERS);
    std::fs::create_dir_all(lab.path("pki/etcd")).unwrap();
    // An RSA cluster CA in PKCS#1 ("RSA PRIVATE KEY") and an EC P-384 etcd CA in SEC1
    // ("EC PRIVATE KEY"), made with openssl, with a two-attribute subject.
    openssl(
        &lab,
        &["genrsa", "-traditional", "-out", "pki/ca.key", "2048"],
    );
    openssl(
        &lab,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "pki/ca.key",
            "-sha256",
            "-days",
            "3650",
            "-subj",
            "/O=Example Corp/CN=corp kubernetes ca",
            "-out",
            "pki/ca.crt",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    openssl(
        &lab,
        &[
            "ecparam",
            "-name",
            "secp384r1",
            "-genkey",
            "-noout",
            "-out",
            "pki/etcd/ca.key",
        ],
    );
    openssl(
        &lab,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "pki/etcd/ca.key",
            "-sha384",
            "-days",
            "3650",
            "-subj",
            "/CN=corp etcd ca",
            "-out",
            "pki/etcd/ca.crt",
        ],
    );
    std::fs::set_permissions(
        lab.path("pki/ca.key"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let ca = lab.read("pki/ca.crt");
    let ca_key = lab.read("pki/ca.key");
    let etcd_ca = lab.read("pki/etcd/ca.crt");

    let report = lab.ensure();
    assert_eq!(change(&report, "pki/ca.crt"), &Change::Unchanged);
    assert!(report
        .entry("pki/ca.crt")
        .unwrap()
        .what
        .contains("provided"));
    assert_eq!(change(&report, "pki/etcd/ca.crt"), &Change::Unchanged);
    assert_eq!(change(&report, "pki/front-proxy-ca.crt"), &Change::Created);
    assert_eq!(lab.read("pki/ca.crt"), ca, "ca.crt changed");
    assert_eq!(lab.read("pki/ca.key"), ca_key, "ca.key changed");
    assert_eq!(lab.read("pki/etcd/ca.crt"), etcd_ca);

    for (ca, leaves) in LEAVES_BY_CA {
        verify_all(&lab, ca, leaves);
    }
    let issuer = openssl(
        &lab,
        &["x509", "-in", "pki/apiserver.crt", "-noout", "-issuer"],
    );
    assert_eq!(
        issuer.trim(),
        "issuer=O = Example Corp, CN = corp kubernetes ca"
    );
    // Leaves still get the configured algorithm (RSA-2048), whatever the CA's.
    let text = openssl(
        &lab,
        &["x509", "-in", "pki/etcd/m1/peer.crt", "-noout", "-text"],
    );
    assert!(
        text.contains("ecdsa-with-SHA384"),
        "signed by the P-384 etcd CA"
    );
    assert!(text.contains("Public-Key: (2048 bit)"));

    let m = pki::manifest(&lab.dir).unwrap();
    assert_eq!(m.cas["ca"].origin, "provided");
    assert_eq!(m.cas["etcd/ca"].key_algorithm, "ECDSA P-384");
    assert_eq!(m.cas["front-proxy-ca"].origin, "generated");

    // And again: nothing to do, CA untouched.
    let again = lab.ensure();
    assert!(!again.changed(), "{again}");
    assert_eq!(lab.read("pki/ca.crt"), ca);
}

#[test]
fn broken_ca_pairs_are_errors_naming_the_file() {
    let lab = Lab::new(THREE_MASTERS);
    std::fs::create_dir_all(lab.path("pki")).unwrap();
    openssl(&lab, &["genrsa", "-out", "pki/ca.key", "2048"]);
    openssl(
        &lab,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "pki/ca.key",
            "-subj",
            "/CN=x",
            "-out",
            "pki/ca.crt",
        ],
    );
    std::fs::remove_file(lab.path("pki/ca.key")).unwrap();
    let e = format!("{:#}", pki::ensure(&lab.dir, &lab.spec).unwrap_err());
    assert!(
        e.contains("pki/ca.crt has no key: pki/ca.key is missing"),
        "{e}"
    );
    assert!(!lab.path("pki/apiserver.crt").exists(), "nothing issued");
    assert!(!lab.path("pki/etcd/ca.crt").exists(), "nothing issued");

    // A key of another pair.
    openssl(&lab, &["genrsa", "-out", "pki/ca.key", "2048"]);
    let e = format!("{:#}", pki::ensure(&lab.dir, &lab.spec).unwrap_err());
    assert!(e.contains("pki/ca.key does not match pki/ca.crt"), "{e}");

    // A key without its certificate.
    std::fs::remove_file(lab.path("pki/ca.crt")).unwrap();
    let e = format!("{:#}", pki::ensure(&lab.dir, &lab.spec).unwrap_err());
    assert!(
        e.contains("pki/ca.key has no certificate: pki/ca.crt is missing"),
        "{e}"
    );

    // A certificate that is not a CA.
    openssl(
        &lab,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "pki/ca.key",
            "-subj",
            "/CN=leaf",
            "-out",
            "pki/ca.crt",
            "-addext",
            "basicConstraints=critical,CA:FALSE",
        ],
    );
    let e = format!("{:#}", pki::ensure(&lab.dir, &lab.spec).unwrap_err());
    assert!(e.contains("pki/ca.crt is not a CA certificate"), "{e}");

    // sa.pub without sa.key.
    let lab = Lab::new(THREE_MASTERS);
    std::fs::create_dir_all(lab.path("pki")).unwrap();
    std::fs::write(lab.path("pki/sa.pub"), "x").unwrap();
    let e = format!("{:#}", pki::ensure(&lab.dir, &lab.spec).unwrap_err());
    assert!(
        e.contains("pki/sa.pub has no private key: pki/sa.key is missing"),
        "{e}"
    );
}

#[test]
fn adding_a_master_reissues_only_what_it_touches() {
    let mut lab = Lab::new(THREE_MASTERS);
    lab.ensure();
    let before = lab.snapshot();
    let added = THREE_MASTERS.replace(
        "network:",
        "  - { name: m4, address: 10.77.0.14, roles: [master, node] }\n  - { name: e5, address: 10.77.0.15, roles: [etcd] }\nnetwork:",
    );
    lab.set(&added);

    // `certs check` sees what is missing before anything changes.
    let check = pki::check(&lab.dir, &lab.spec, 30).unwrap();
    let api_errors: Vec<&str> = check
        .findings
        .iter()
        .filter(|f| f.file == "pki/apiserver.crt")
        .map(|f| f.message.as_str())
        .collect();
    assert_eq!(api_errors.len(), 2, "{api_errors:?}");
    assert!(api_errors[0].starts_with("SAN IP 10.77.0.14 (host m4) is missing"));

    let report = lab.ensure();
    assert_eq!(
        change(&report, "pki/apiserver.crt"),
        &Change::Reissued {
            reasons: vec!["SANs changed: +IP 10.77.0.14, +DNS m4".into()]
        }
    );
    let mut created = report.files("created");
    created.sort();
    assert_eq!(created, ["pki/etcd/e5/peer.crt", "pki/etcd/e5/server.crt"]);
    assert_eq!(report.files("reissued"), ["pki/apiserver.crt"]);
    assert!(report.files("updated").is_empty(), "{report}");

    // Everything else is byte for byte what it was.
    let after = lab.snapshot();
    for (file, bytes) in &before {
        if file.starts_with("pki/apiserver.") || file == "pki/manifest.json" {
            continue;
        }
        assert_eq!(after.get(file), Some(bytes), "{file} changed");
    }
    // The old pair is in the backup, and the new one is from the same CA.
    let backup = report.backup.clone().expect("a backup folder");
    assert!(backup.starts_with(lab.path("pki/backup")));
    assert_eq!(
        std::fs::read(backup.join("apiserver.crt")).unwrap(),
        before["pki/apiserver.crt"]
    );
    assert_eq!(
        std::fs::read(backup.join("apiserver.key")).unwrap(),
        before["pki/apiserver.key"]
    );
    assert_eq!(
        mode(&lab, &format!("{}/apiserver.key", rel(&lab, &backup))),
        0o600
    );
    verify(&lab, "pki/ca.crt", "pki/apiserver.crt");
    assert!(
        ext(&lab, "pki/apiserver.crt", "subjectAltName").contains("IP Address:10.77.0.14, DNS:m4")
    );
    assert_eq!(lab.read("pki/ca.crt"), before["pki/ca.crt"]);

    let m = pki::manifest(&lab.dir).unwrap();
    let last = m.leaves["apiserver"].last_reissue.as_ref().unwrap();
    assert_eq!(last.reasons, ["SANs changed: +IP 10.77.0.14, +DNS m4"]);
    assert_eq!(last.backup.as_deref(), Some(rel(&lab, &backup).as_str()));
    assert!(pki::check(&lab.dir, &lab.spec, 30)
        .unwrap()
        .findings
        .is_empty());

    // Removing the hosts again: the API server certificate follows, the members' files stay.
    lab.set(THREE_MASTERS);
    let report = lab.ensure();
    assert_eq!(
        change(&report, "pki/apiserver.crt"),
        &Change::Reissued {
            reasons: vec!["SANs changed: -IP 10.77.0.14, -DNS m4".into()]
        }
    );
    assert_eq!(change(&report, "pki/etcd/e5/peer.crt"), &Change::Orphaned);
    assert_eq!(
        report.entry("pki/etcd/e5/peer.crt").unwrap().what,
        "not in the cluster file (a removed host?); left in place"
    );
    assert!(lab.path("pki/etcd/e5/peer.crt").exists());
}

fn rel(lab: &Lab, p: &Path) -> String {
    p.strip_prefix(&lab.root).unwrap().display().to_string()
}

#[test]
fn ecdsa_option_and_switching_back() {
    let ecdsa = format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n");
    let mut lab = Lab::new(&ecdsa);
    lab.ensure();
    for (ca, leaves) in LEAVES_BY_CA {
        let text = openssl(&lab, &["x509", "-in", ca, "-noout", "-text"]);
        assert!(
            text.contains("id-ecPublicKey") && text.contains("prime256v1"),
            "{ca}"
        );
        for crt in leaves.iter().copied() {
            verify(&lab, ca, crt);
            assert_key_matches(&lab, &crt.replace(".crt", ".key"), crt);
            let text = openssl(&lab, &["x509", "-in", crt, "-noout", "-text"]);
            assert!(
                text.contains("ecdsa-with-SHA256") && text.contains("prime256v1"),
                "{crt}"
            );
            let ku = ext(&lab, crt, "keyUsage");
            assert!(
                ku.contains("Digital Signature") && !ku.contains("Key Encipherment"),
                "{crt}: {ku}"
            );
        }
    }
    let sa = openssl(&lab, &["pkey", "-in", "pki/sa.key", "-noout", "-text"]);
    assert!(sa.contains("prime256v1"));
    assert!(pki::check(&lab.dir, &lab.spec, 30)
        .unwrap()
        .findings
        .is_empty());

    // Back to RSA: the leaves are re-issued, the CAs (and the service-account key) stay.
    let ca = lab.read("pki/ca.crt");
    lab.set(THREE_MASTERS);
    let check = pki::check(&lab.dir, &lab.spec, 30).unwrap();
    assert_eq!(check.errors(), 0);
    assert_eq!(check.warnings(), 16, "{:?}", check.findings);
    let report = lab.ensure();
    assert_eq!(report.files("reissued").len(), 16, "{report}");
    assert_eq!(
        change(&report, "pki/admin.crt"),
        &Change::Reissued {
            reasons: vec!["key algorithm changed: ECDSA P-256 → RSA-2048".into()]
        }
    );
    assert_eq!(change(&report, "pki/ca.crt"), &Change::Unchanged);
    assert_eq!(change(&report, "pki/sa.key"), &Change::Unchanged);
    assert_eq!(lab.read("pki/ca.crt"), ca);
    assert!(matches!(
        change(&report, "kubeconfigs/admin.conf"),
        Change::Updated { .. }
    ));
    let text = openssl(&lab, &["x509", "-in", "pki/admin.crt", "-noout", "-text"]);
    assert!(text.contains("Public-Key: (2048 bit)") && text.contains("ecdsa-with-SHA256"));
    verify(&lab, "pki/ca.crt", "pki/admin.crt");
}

/// The kubectl to run: `$KUBECTL`, else the one on PATH. Google Cloud SDK's `kubectl` is a
/// dispatcher that first dials the kubeconfig's server to pick a version (3 s per call against
/// an address nobody answers on); the versioned binaries beside it do not, so the newest of
/// those is used when they are there.
fn kubectl() -> PathBuf {
    if let Some(k) = std::env::var_os("KUBECTL") {
        return PathBuf::from(k);
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("kubectl"))
                .find(|k| k.is_file())
        })
        .unwrap_or_default();
    let Some(real) = on_path.and_then(|k| std::fs::canonicalize(k).ok()) else {
        return PathBuf::from("kubectl");
    };
    let mut versioned: Vec<(u32, PathBuf)> = std::fs::read_dir(real.parent().unwrap())
        .map(|d| {
            d.filter_map(|e| {
                let p = e.ok()?.path();
                let minor = p
                    .file_name()?
                    .to_str()?
                    .strip_prefix("kubectl.1.")?
                    .parse()
                    .ok()?;
                Some((minor, p))
            })
            .collect()
        })
        .unwrap_or_default();
    versioned.sort();
    versioned.pop().map(|(_, p)| p).unwrap_or(real)
}

#[test]
fn kubeconfigs_read_by_kubectl() {
    let kubectl = kubectl();
    let kubectl = kubectl.to_str().unwrap();
    let lab = Lab::new(&format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n"));
    lab.ensure();
    let b64 = |s: &serde_json::Value| {
        base64::engine::general_purpose::STANDARD
            .decode(s.as_str().unwrap())
            .unwrap()
    };
    let admin = lab.path("kubeconfigs/admin.conf");
    let view = run(
        &lab.root,
        kubectl,
        &["config", "view", "--kubeconfig", admin.to_str().unwrap()],
    );
    assert!(view.contains("server: https://10.77.0.100:6443"), "{view}");
    assert!(
        view.contains("client-certificate-data: DATA+OMITTED"),
        "{view}"
    );
    assert!(
        view.contains("current-context: kubernetes-admin@lab"),
        "{view}"
    );
    for (conf, user, crt) in [
        ("admin.conf", "kubernetes-admin", "pki/admin.crt"),
        (
            "controller-manager.conf",
            "system:kube-controller-manager",
            "pki/controller-manager.crt",
        ),
        (
            "scheduler.conf",
            "system:kube-scheduler",
            "pki/scheduler.crt",
        ),
        ("kube-proxy.conf", "system:kube-proxy", "pki/kube-proxy.crt"),
    ] {
        let file = lab.path("kubeconfigs").join(conf);
        let file = file.to_str().unwrap();
        let jp = |path: &str| {
            run(
                &lab.root,
                kubectl,
                &[
                    "config",
                    "view",
                    "--raw",
                    "--kubeconfig",
                    file,
                    "-o",
                    &format!("jsonpath={path}"),
                ],
            )
        };
        assert_eq!(
            b64(&serde_json::Value::String(jp(
                "{.users[0].user.client-certificate-data}"
            ))),
            lab.read(crt),
            "{conf}"
        );
        let raw: serde_json::Value = serde_json::from_str(&run(
            &lab.root,
            kubectl,
            &[
                "config",
                "view",
                "--raw",
                "--kubeconfig",
                file,
                "-o",
                "json",
            ],
        ))
        .unwrap();
        assert_eq!(raw["current-context"], format!("{user}@lab"), "{conf}");
        assert_eq!(raw["users"][0]["name"], user);
        assert_eq!(raw["contexts"][0]["context"]["user"], user);
        assert_eq!(
            raw["clusters"][0]["cluster"]["server"],
            "https://10.77.0.100:6443"
        );
        assert_eq!(
            b64(&raw["clusters"][0]["cluster"]["certificate-authority-data"]),
            lab.read("pki/ca.crt")
        );
        assert_eq!(
            b64(&raw["users"][0]["user"]["client-certificate-data"]),
            lab.read(crt)
        );
        assert_eq!(
            b64(&raw["users"][0]["user"]["client-key-data"]),
            lab.read(&crt.replace(".crt", ".key"))
        );
    }
    // Without a VIP, the first master, on the configured port.
    let lab = Lab::new(
        &THREE_MASTERS
            .replace("vip: 10.77.0.100, ", "port: 8443, ")
            .replace("network:", "pki: { key_algorithm: ecdsa }\nnetwork:"),
    );
    lab.ensure();
    let file = lab.path("kubeconfigs/admin.conf");
    let server = run(
        &lab.root,
        kubectl,
        &[
            "config",
            "view",
            "--kubeconfig",
            file.to_str().unwrap(),
            "-o",
            "jsonpath={.clusters[0].cluster.server}",
        ],
    );
    assert_eq!(server, "https://10.77.0.11:8443");
}

#[test]
fn etcd_member_reissue_and_fault_injection() {
    let lab = Lab::new(&format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n"));
    assert!(!pki::etcd_member_files_available(&lab.dir, &lab.spec));
    lab.ensure();
    assert!(pki::etcd_member_files_available(&lab.dir, &lab.spec));
    let before = lab.snapshot();

    // A peer certificate without the member's IP, from the real etcd CA.
    let report = pki::issue_etcd_member_with_sans(
        &lab.dir,
        &lab.spec,
        "m2",
        &["m2", "127.0.0.1", "localhost"],
    )
    .unwrap();
    assert_eq!(
        report.files("reissued"),
        ["pki/etcd/m2/server.crt", "pki/etcd/m2/peer.crt"]
    );
    verify(&lab, "pki/etcd/ca.crt", "pki/etcd/m2/peer.crt");
    let san = ext(&lab, "pki/etcd/m2/peer.crt", "subjectAltName");
    assert!(!san.contains("10.77.0.12"), "{san}");
    assert!(
        san.contains("DNS:m2, IP Address:127.0.0.1, DNS:localhost"),
        "{san}"
    );
    // What the member would get is the bad pair.
    let files = pki::files_for_host(&lab.dir, &lab.spec, "m2").unwrap();
    let peer = files
        .iter()
        .find(|(p, _, _)| p == "/etc/etcd/pki/peer.crt")
        .unwrap();
    assert_eq!(peer.1, lab.read("pki/etcd/m2/peer.crt"));

    // `certs check` names the host and the SAN.
    let check = pki::check(&lab.dir, &lab.spec, 30).unwrap();
    let errors: Vec<String> = check
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.file, f.message))
        .collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[1].starts_with(
            "pki/etcd/m2/peer.crt: SAN IP 10.77.0.12 (etcd member m2's own address) is missing"
        ),
        "{errors:?}"
    );

    // The auto-fix: re-issue from the same CA.
    let report = pki::reissue_etcd_member(&lab.dir, &lab.spec, "m2").unwrap();
    assert_eq!(
        change(&report, "pki/etcd/m2/peer.crt"),
        &Change::Reissued {
            reasons: vec![
                "re-issued on request".into(),
                "SANs changed: +IP 10.77.0.12".into()
            ]
        }
    );
    let san = ext(&lab, "pki/etcd/m2/peer.crt", "subjectAltName");
    assert!(
        san.contains("IP Address:10.77.0.12, DNS:m2, IP Address:127.0.0.1, DNS:localhost"),
        "{san}"
    );
    verify(&lab, "pki/etcd/ca.crt", "pki/etcd/m2/peer.crt");
    // The bad one is in the backup; nothing else moved.
    let backup = report.backup.unwrap();
    let bad = std::fs::read(backup.join("etcd/m2/peer.crt")).unwrap();
    assert!(!String::from_utf8_lossy(&bad).is_empty());
    let after = lab.snapshot();
    for (file, bytes) in &before {
        if file.starts_with("pki/etcd/m2/") || file == "pki/manifest.json" {
            continue;
        }
        assert_eq!(after.get(file), Some(bytes), "{file} changed");
    }
    assert_eq!(lab.read("pki/etcd/ca.crt"), before["pki/etcd/ca.crt"]);
    assert!(pki::check(&lab.dir, &lab.spec, 30)
        .unwrap()
        .findings
        .is_empty());

    // A later ensure also repairs an injected certificate, saying why.
    pki::issue_etcd_member_with_sans(&lab.dir, &lab.spec, "m3", &["127.0.0.1"]).unwrap();
    let report = lab.ensure();
    assert_eq!(
        change(&report, "pki/etcd/m3/server.crt"),
        &Change::Reissued {
            reasons: vec!["SANs changed: +IP 10.77.0.13, +DNS m3, +DNS localhost".into()]
        }
    );

    // Not a member.
    let e = pki::reissue_etcd_member(&lab.dir, &lab.spec, "n4").unwrap_err();
    assert!(
        format!("{e}").contains("host n4 is not an etcd member"),
        "{e}"
    );
    let e = pki::files_for_host(&lab.dir, &lab.spec, "nope").unwrap_err();
    assert!(format!("{e}").contains("no host named \"nope\""), "{e}");
}

#[test]
fn files_for_an_etcd_member_are_what_it_needs_and_only_that() {
    let lab = Lab::new(&format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n"));
    let e = pki::files_for_host(&lab.dir, &lab.spec, "m1").unwrap_err();
    assert!(format!("{e}").contains("pki/etcd/ca.crt is missing"), "{e}");
    lab.ensure();
    let files = pki::files_for_host(&lab.dir, &lab.spec, "m1").unwrap();
    let listed: Vec<(&str, u32)> = files.iter().map(|(p, _, m)| (p.as_str(), *m)).collect();
    assert_eq!(
        listed,
        [
            ("/etc/etcd/pki/ca.crt", 0o644),
            ("/etc/etcd/pki/server.crt", 0o644),
            ("/etc/etcd/pki/server.key", 0o600),
            ("/etc/etcd/pki/peer.crt", 0o644),
            ("/etc/etcd/pki/peer.key", 0o600),
            ("/etc/etcd/pki/healthcheck-client.crt", 0o644),
            ("/etc/etcd/pki/healthcheck-client.key", 0o600),
        ]
    );
    let local = [
        "pki/etcd/ca.crt",
        "pki/etcd/m1/server.crt",
        "pki/etcd/m1/server.key",
        "pki/etcd/m1/peer.crt",
        "pki/etcd/m1/peer.key",
        "pki/etcd/healthcheck-client.crt",
        "pki/etcd/healthcheck-client.key",
    ];
    for ((_, bytes, _), rel) in files.iter().zip(local) {
        assert_eq!(bytes, &lab.read(rel), "{rel}");
    }
    // No CA key, nothing of another member.
    let etcd_ca_key = lab.read("pki/etcd/ca.key");
    let m2_key = lab.read("pki/etcd/m2/peer.key");
    assert!(files
        .iter()
        .all(|(_, b, _)| b != &etcd_ca_key && b != &m2_key));
    assert_eq!(
        pki::etcd_ca_cert_path(&lab.dir),
        lab.path("pki/etcd/ca.crt")
    );
    let e = pki::files_for_host(&lab.dir, &lab.spec, "n4").unwrap_err();
    assert!(format!("{e}").contains("not an etcd member"), "{e}");
}

/// A leaf signed with rcgen by the CA in the directory, with the given validity.
fn forge_leaf(lab: &Lab, ca: &str, cn: &str, orgs: &[&str], days: (i64, i64)) -> (String, String) {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair};
    let ca_key =
        KeyPair::from_pem(&String::from_utf8(lab.read(&format!("{ca}.key"))).unwrap()).unwrap();
    let issuer = Issuer::from_ca_cert_pem(
        &String::from_utf8(lab.read(&format!("{ca}.crt"))).unwrap(),
        ca_key,
    )
    .unwrap();
    let mut p = CertificateParams::default();
    p.distinguished_name = rcgen::DistinguishedName::new();
    p.distinguished_name.push(DnType::CommonName, cn);
    for o in orgs {
        p.distinguished_name.push(DnType::OrganizationName, *o);
    }
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now + time::Duration::days(days.0);
    p.not_after = now + time::Duration::days(days.1);
    let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = p.signed_by(&key, &issuer).unwrap();
    (cert.pem(), key.serialize_pem())
}

#[test]
fn check_finds_expiry_foreign_issuers_and_stale_files() {
    let lab = Lab::new(&format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n"));
    lab.ensure();
    // Expiring in 10 days, expired, and signed by the wrong CA.
    let (c, k) = forge_leaf(&lab, "pki/ca", "system:kube-scheduler", &[], (-30, 10));
    std::fs::write(lab.path("pki/scheduler.crt"), c).unwrap();
    std::fs::write(lab.path("pki/scheduler.key"), k).unwrap();
    let (c, k) = forge_leaf(&lab, "pki/ca", "system:kube-proxy", &[], (-400, -1));
    std::fs::write(lab.path("pki/kube-proxy.crt"), c).unwrap();
    std::fs::write(lab.path("pki/kube-proxy.key"), k).unwrap();
    let (c, k) = forge_leaf(
        &lab,
        "pki/etcd/ca",
        "kubernetes-admin",
        &["system:masters"],
        (-1, 100),
    );
    std::fs::write(lab.path("pki/admin.crt"), c).unwrap();
    std::fs::write(lab.path("pki/admin.key"), k).unwrap();
    // A key that is not its certificate's, readable by all.
    std::fs::copy(
        lab.path("pki/apiserver-etcd-client.key"),
        lab.path("pki/etcd/healthcheck-client.key"),
    )
    .unwrap();
    std::fs::set_permissions(
        lab.path("pki/etcd/healthcheck-client.key"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();

    let check = pki::check(&lab.dir, &lab.spec, 30).unwrap();
    let lines: Vec<String> = check
        .findings
        .iter()
        .map(|f| format!("{} {}: {}", f.severity, f.file, f.message))
        .collect();
    let has = |prefix: &str| lines.iter().any(|l| l.starts_with(prefix));
    assert!(
        has("warning pki/scheduler.crt: expires in 9 days")
            || has("warning pki/scheduler.crt: expires in 10 days"),
        "{lines:#?}"
    );
    assert!(has("error pki/kube-proxy.crt: expired on "), "{lines:#?}");
    assert!(has("error pki/admin.crt: does not chain to the cluster CA (pki/ca.crt): issued by CN=etcd-ca"), "{lines:#?}");
    assert!(
        has(
            "error pki/etcd/healthcheck-client.key: does not match pki/etcd/healthcheck-client.crt"
        ),
        "{lines:#?}"
    );
    assert!(
        has("warning pki/etcd/healthcheck-client.key: private key is readable by others (mode 0644)"),
        "{lines:#?}"
    );
    assert!(
        has("error kubeconfigs/admin.conf: its client certificate is not pki/admin.crt"),
        "{lines:#?}"
    );
    assert!(check.errors() >= 5);

    // ensure repairs all of it, each with its reason (the merely expiring one stays).
    let report = lab.ensure();
    assert_eq!(change(&report, "pki/scheduler.crt"), &Change::Unchanged);
    let Change::Reissued { reasons } = change(&report, "pki/kube-proxy.crt") else {
        panic!("{report}")
    };
    assert!(reasons[0].starts_with("expired on "), "{reasons:?}");
    assert_eq!(
        change(&report, "pki/admin.crt"),
        &Change::Reissued {
            reasons: vec!["not signed by the current cluster CA (pki/ca.crt)".into()]
        }
    );
    assert_eq!(
        change(&report, "pki/etcd/healthcheck-client.crt"),
        &Change::Reissued {
            reasons: vec!["the key does not match the certificate".into()]
        }
    );
    assert_eq!(mode(&lab, "pki/etcd/healthcheck-client.key"), 0o600);
    let Change::Updated { reasons } = change(&report, "kubeconfigs/admin.conf") else {
        panic!("{report}")
    };
    assert_eq!(reasons, &["embeds the new pki/admin.crt"]);
    let check = pki::check(&lab.dir, &lab.spec, 30).unwrap();
    assert_eq!(check.errors(), 0, "{:?}", check.findings);
    assert_eq!(check.warnings(), 1, "{:?}", check.findings); // the scheduler's expiry
}

/// A directory made before kubewiz stopped issuing kubelet client certificates (nodes now join
/// by TLS bootstrapping): the per-node files it has are reported orphaned, warned about by
/// `certs check`, listed by `certs list`, and left exactly as they were.
#[test]
fn old_kubelet_files_are_orphaned_and_left_in_place() {
    let kubectl = kubectl();
    let kubectl = kubectl.to_str().unwrap();
    let lab = Lab::new(&format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n"));
    lab.ensure();

    // What earlier versions wrote for every node: pki/kubelet/<node>.crt .key from the cluster
    // CA (CN=system:node:<node>, O=system:nodes, clientAuth), and kubeconfigs/kubelet-<node>.conf
    // embedding them. Made here with openssl and kubectl.
    let nodes = ["m1", "m2", "m3", "n4"];
    std::fs::create_dir_all(lab.path("pki/kubelet")).unwrap();
    let extfile = lab.path("client.ext");
    std::fs::write(
        &extfile,
        "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n",
    )
    .unwrap();
    for (i, n) in nodes.into_iter().enumerate() {
        let serial = format!("0x{:x}", 0x1f + i);
        let (crt, key, csr) = (
            format!("pki/kubelet/{n}.crt"),
            format!("pki/kubelet/{n}.key"),
            format!("{n}.csr"),
        );
        openssl(
            &lab,
            &[
                "ecparam",
                "-name",
                "prime256v1",
                "-genkey",
                "-noout",
                "-out",
                &key,
            ],
        );
        std::fs::set_permissions(lab.path(&key), std::fs::Permissions::from_mode(0o600)).unwrap();
        let subj = format!("/CN=system:node:{n}/O=system:nodes");
        openssl(
            &lab,
            &["req", "-new", "-key", &key, "-subj", &subj, "-out", &csr],
        );
        openssl(
            &lab,
            &[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "pki/ca.crt",
                "-CAkey",
                "pki/ca.key",
                "-set_serial",
                &serial,
                "-days",
                "365",
                "-sha256",
                "-extfile",
                "client.ext",
                "-out",
                &crt,
            ],
        );
        std::fs::remove_file(lab.path(&csr)).unwrap();
        let conf = lab.path(&format!("kubeconfigs/kubelet-{n}.conf"));
        let conf = format!("--kubeconfig={}", conf.display());
        let user = format!("system:node:{n}");
        let kc = |args: &[&str]| {
            let mut args = args.to_vec();
            args.push(&conf);
            run(&lab.root, kubectl, &args);
        };
        kc(&[
            "config",
            "set-cluster",
            "lab",
            "--server=https://10.77.0.100:6443",
            "--certificate-authority=pki/ca.crt",
            "--embed-certs=true",
        ]);
        kc(&[
            "config",
            "set-credentials",
            &user,
            &format!("--client-certificate={crt}"),
            &format!("--client-key={key}"),
            "--embed-certs=true",
        ]);
        kc(&[
            "config",
            "set-context",
            "default",
            "--cluster=lab",
            &format!("--user={user}"),
        ]);
        kc(&["config", "use-context", "default"]);
    }
    std::fs::remove_file(&extfile).unwrap();
    let legacy_crts: Vec<String> = nodes
        .iter()
        .map(|n| format!("pki/kubelet/{n}.crt"))
        .collect();
    let legacy: Vec<String> = nodes
        .iter()
        .flat_map(|n| {
            [
                format!("pki/kubelet/{n}.crt"),
                format!("pki/kubelet/{n}.key"),
                format!("kubeconfigs/kubelet-{n}.conf"),
            ]
        })
        .collect();
    let before = lab.snapshot();
    for f in &legacy {
        assert!(before.contains_key(f), "{f} was planted");
    }

    // ensure: each old file orphaned with its reason, nothing written, nothing moved.
    for _ in 0..2 {
        let report = lab.ensure();
        assert!(!report.changed(), "{report}");
        assert_eq!(report.backup, None);
        let mut orphaned = report.files("orphaned");
        orphaned.sort();
        let mut expected: Vec<String> = legacy
            .iter()
            .filter(|f| !f.ends_with(".key"))
            .cloned()
            .collect();
        expected.sort();
        assert_eq!(orphaned, expected, "{report}");
        for n in nodes {
            assert_eq!(
                report.entry(&format!("pki/kubelet/{n}.crt")).unwrap().what,
                "kubelet client certificate from an earlier kubewiz, no longer issued: kubelets \
                 get theirs by TLS bootstrapping when they join; left in place"
            );
            assert_eq!(
                report
                    .entry(&format!("kubeconfigs/kubelet-{n}.conf"))
                    .unwrap()
                    .what,
                "kubelet kubeconfig from an earlier kubewiz, no longer written: kubelets get \
                 theirs by TLS bootstrapping when they join; left in place"
            );
        }
        // 3 CAs, the service-account pair, 16 leaves, 4 kubeconfigs.
        assert_eq!(report.summary(), "25 unchanged, 8 orphaned");
        assert_eq!(lab.snapshot(), before, "a file changed");
        assert!(!lab.path("pki/backup").exists());
    }
    // Still intact: the certificates chain to the CA, the keys match, kubectl reads the files.
    let crts: Vec<&str> = legacy_crts.iter().map(String::as_str).collect();
    verify_all(&lab, "pki/ca.crt", &crts);
    for crt in &crts {
        assert_key_matches(&lab, &crt.replace(".crt", ".key"), crt);
        assert_eq!(mode(&lab, &crt.replace(".crt", ".key")), 0o600);
    }
    let n4 = lab.path("kubeconfigs/kubelet-n4.conf");
    let data = run(
        &lab.root,
        kubectl,
        &[
            "config",
            "view",
            "--raw",
            "--kubeconfig",
            n4.to_str().unwrap(),
            "-o",
            "jsonpath={.users[0].user.client-certificate-data}",
        ],
    );
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(data.trim())
            .unwrap(),
        lab.read("pki/kubelet/n4.crt")
    );

    // certs check: warnings naming each old file, no error (exit status 0).
    let check = pki::check(&lab.dir, &lab.spec, 30).unwrap();
    assert_eq!(check.errors(), 0, "{:?}", check.findings);
    let mut warned: Vec<(&str, &str)> = check
        .findings
        .iter()
        .map(|f| (f.file.as_str(), f.message.as_str()))
        .collect();
    warned.sort();
    let mut expected: Vec<(&str, &str)> = vec![];
    for f in legacy.iter().filter(|f| !f.ends_with(".key")) {
        expected.push((
            f.as_str(),
            if f.ends_with(".crt") {
                "kubelet client certificate from an earlier kubewiz, no longer issued: kubelets \
                 get theirs by TLS bootstrapping when they join; kubewiz does not use it"
            } else {
                "kubelet kubeconfig from an earlier kubewiz, no longer written: kubelets get \
                 theirs by TLS bootstrapping when they join; kubewiz does not use it"
            },
        ));
    }
    expected.sort();
    assert_eq!(warned, expected);

    // certs list: the cluster file's certificates, then the old ones.
    let rows = pki::list(&lab.dir, &lab.spec).unwrap();
    assert_eq!(rows.len(), 23);
    let tail: Vec<(&str, &str, &str)> = rows[19..]
        .iter()
        .map(|r| (r.file.as_str(), r.subject.as_str(), r.issuer.as_str()))
        .collect();
    assert_eq!(
        tail,
        [
            (
                "pki/kubelet/m1.crt",
                "CN=system:node:m1, O=system:nodes",
                "CN=kubernetes"
            ),
            (
                "pki/kubelet/m2.crt",
                "CN=system:node:m2, O=system:nodes",
                "CN=kubernetes"
            ),
            (
                "pki/kubelet/m3.crt",
                "CN=system:node:m3, O=system:nodes",
                "CN=kubernetes"
            ),
            (
                "pki/kubelet/n4.crt",
                "CN=system:node:n4, O=system:nodes",
                "CN=kubernetes"
            ),
        ]
    );
}

#[test]
fn list_shows_every_certificate() {
    let lab = Lab::new(&format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n"));
    assert!(pki::list(&lab.dir, &lab.spec).unwrap().is_empty());
    lab.ensure();
    let rows = pki::list(&lab.dir, &lab.spec).unwrap();
    assert_eq!(rows.len(), 19);
    assert_eq!(rows[0].file, "pki/ca.crt");
    assert_eq!(rows[0].issuer, "CN=kubernetes");
    assert!((3640..=3650).contains(&rows[0].days_left));
    let peer = rows
        .iter()
        .find(|r| r.file == "pki/etcd/m2/peer.crt")
        .unwrap();
    assert_eq!(peer.subject, "CN=m2");
    assert_eq!(peer.issuer, "CN=etcd-ca");
    assert_eq!(
        peer.sans,
        ["IP 10.77.0.12", "DNS m2", "IP 127.0.0.1", "DNS localhost"]
    );
    assert!((364..=365).contains(&peer.days_left));
    let admin = rows.iter().find(|r| r.file == "pki/admin.crt").unwrap();
    assert_eq!(admin.subject, "CN=kubernetes-admin, O=system:masters");
}

#[test]
fn concurrent_runs_do_not_interleave() {
    let lab = Lab::new(&format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n"));
    let reports: Vec<PkiReport> = std::thread::scope(|s| {
        let hs: Vec<_> = (0..3).map(|_| s.spawn(|| lab.ensure())).collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let creators = reports.iter().filter(|r| r.changed()).count();
    assert_eq!(creators, 1, "exactly one run made the PKI");
    for r in &reports {
        assert!(
            r.entries.iter().all(|e| e.change == Change::Unchanged)
                || r.entries.iter().all(|e| e.change == Change::Created),
            "{r}"
        );
    }
    assert!(pki::check(&lab.dir, &lab.spec, 30)
        .unwrap()
        .findings
        .is_empty());
}

#[test]
fn etcd_part_alone_then_the_rest() {
    let lab = Lab::new(&format!("{THREE_MASTERS}pki: {{ key_algorithm: ecdsa }}\n"));
    let report = pki::ensure_etcd(&lab.dir, &lab.spec).unwrap();
    let mut files: Vec<&str> = report.entries.iter().map(|e| e.file.as_str()).collect();
    files.sort();
    assert_eq!(
        files,
        [
            "pki/apiserver-etcd-client.crt",
            "pki/etcd/ca.crt",
            "pki/etcd/healthcheck-client.crt",
            "pki/etcd/m1/peer.crt",
            "pki/etcd/m1/server.crt",
            "pki/etcd/m2/peer.crt",
            "pki/etcd/m2/server.crt",
            "pki/etcd/m3/peer.crt",
            "pki/etcd/m3/server.crt",
            "pki/flannel-etcd-client.crt",
        ]
    );
    assert!(!lab.path("pki/ca.crt").exists() && !lab.path("kubeconfigs").exists());
    assert!(pki::etcd_member_files_available(&lab.dir, &lab.spec));
    let report = lab.ensure();
    for e in &report.entries {
        let etcd = e.file.starts_with("pki/etcd/")
            || e.file == "pki/apiserver-etcd-client.crt"
            || e.file == "pki/flannel-etcd-client.crt";
        assert_eq!(etcd, e.change == Change::Unchanged, "{report}");
    }
}

/// A cluster directory made before kubewiz had the flannel stage gains flanneld's etcd client
/// certificate on the next ensure, signed by the same etcd CA, and nothing else changes.
#[test]
fn a_new_leaf_is_added_without_touching_the_others() {
    let mut lab = Lab::new(&format!("{THREE_MASTERS}cni: {{ plugin: calico }}\n"));
    lab.ensure();
    assert!(!lab.path("pki/flannel-etcd-client.crt").exists());
    let before = lab.snapshot();
    lab.set(THREE_MASTERS);
    let report = lab.ensure();
    assert_eq!(
        report.files("created"),
        ["pki/flannel-etcd-client.crt"],
        "{report}"
    );
    assert_eq!(report.backup, None, "nothing re-issued: {report}");
    let after = lab.snapshot();
    for (file, content) in &before {
        if file != "pki/manifest.json" {
            assert_eq!(after.get(file), Some(content), "{file} changed");
        }
    }
    verify(&lab, "pki/etcd/ca.crt", "pki/flannel-etcd-client.crt");
    let subj = subject(&lab, "pki/flannel-etcd-client.crt");
    assert!(subj.ends_with("CN = flanneld"), "{subj}");
    assert!(!lab.ensure().changed(), "a second run changes nothing");
}
