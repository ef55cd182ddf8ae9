//! PKI benchmark helper (a `[[bench]]` target with `harness = false`), driven by
//! `scripts/bench-pki`. Every mode prints one JSON object per run on stdout.
//!
//!   pki_bench full --masters 3 --nodes 100 --alg rsa|ecdsa [--runs 5]
//!       kubewiz::pki::ensure into a fresh cluster directory (cold), then again (nothing to do:
//!       warm); and, for the split, the same number of bare key generations on all cores.
//!   pki_bench etcd --alg rsa|ecdsa [--runs 5]
//!       kubewiz::pki::ensure_etcd for 3 members: the etcd CA, 3 × server + peer, the
//!       health-check client and the API server's etcd client (what the openssl peer makes).

use anyhow::{bail, Context, Result};
use kubewiz::cluster_dir::ClusterDir;
use kubewiz::config::{self, ClusterSpec, KeyAlgorithm};
use kubewiz::pki;
use serde_json::json;
use std::time::Instant;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mode = args.first().cloned().unwrap_or_default();
    let opt = |name: &str, default: &str| -> String {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1).cloned())
            .unwrap_or_else(|| default.to_string())
    };
    let runs: usize = opt("--runs", "5").parse().context("--runs")?;
    let alg = match opt("--alg", "rsa").as_str() {
        "rsa" => KeyAlgorithm::Rsa,
        "ecdsa" => KeyAlgorithm::Ecdsa,
        other => bail!("--alg {other}: rsa or ecdsa"),
    };
    match mode.as_str() {
        "full" => {
            let masters: usize = opt("--masters", "3").parse()?;
            let nodes: usize = opt("--nodes", "100").parse()?;
            let spec = cluster(masters, nodes, alg)?;
            for run in 0..runs {
                let tmp = tempfile::tempdir()?;
                let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
                let t = Instant::now();
                let report = pki::ensure(&dir, &spec)?;
                let cold = t.elapsed().as_secs_f64();
                let t = Instant::now();
                let again = pki::ensure(&dir, &spec)?;
                let warm = t.elapsed().as_secs_f64();
                if again.changed() {
                    bail!("the second run changed files:\n{again}");
                }
                let files = count_files(tmp.path())?;
                let keys = report
                    .entries
                    .iter()
                    .filter(|e| e.file.ends_with(".crt") || e.file.ends_with("sa.key"))
                    .count();
                let t = Instant::now();
                keygen_on_all_cores(alg, keys);
                let keygen = t.elapsed().as_secs_f64();
                println!(
                    "{}",
                    json!({
                        "mode": "full", "alg": alg.as_str(), "run": run, "masters": masters,
                        "nodes": nodes, "files": files, "keys": keys,
                        "cold_s": cold, "warm_s": warm, "keygen_s": keygen,
                    })
                );
            }
        }
        "etcd" => {
            let spec = cluster(3, 0, alg)?;
            for run in 0..runs {
                let tmp = tempfile::tempdir()?;
                let dir = ClusterDir::of_cluster_file(&tmp.path().join("cluster.yaml"));
                let t = Instant::now();
                let report = pki::ensure_etcd(&dir, &spec)?;
                let secs = t.elapsed().as_secs_f64();
                println!(
                    "{}",
                    json!({
                        "mode": "etcd", "alg": alg.as_str(), "run": run,
                        "certs": report.entries.len(), "s": secs,
                    })
                );
            }
        }
        _ => bail!(
            "usage: pki_bench full|etcd [--alg rsa|ecdsa] [--runs N] [--masters N] [--nodes N]"
        ),
    }
    Ok(())
}

/// Files under `dir` (certificates, keys, kubeconfigs, the manifest, the lock).
fn count_files(dir: &std::path::Path) -> Result<usize> {
    let mut n = 0;
    for e in std::fs::read_dir(dir)? {
        let p = e?.path();
        n += if p.is_dir() { count_files(&p)? } else { 1 };
    }
    Ok(n)
}

/// `masters` hosts with etcd + master + node, `nodes` more with node.
fn cluster(masters: usize, nodes: usize, alg: KeyAlgorithm) -> Result<ClusterSpec> {
    let mut yaml = String::from("name: bench\nhosts:\n");
    for i in 0..masters {
        yaml.push_str(&format!(
            "  - {{ name: master{i}, address: 10.77.0.{}, roles: [etcd, master, node] }}\n",
            11 + i
        ));
    }
    for i in 0..nodes {
        yaml.push_str(&format!(
            "  - {{ name: node{i}, address: 10.77.{}.{}, roles: [node] }}\n",
            1 + i / 250,
            1 + i % 250
        ));
    }
    yaml.push_str(&format!(
        "network: {{ pod_cidr: 10.244.0.0/16, service_cidr: 10.96.0.0/12 }}\n\
         apiserver: {{ vip: 10.77.0.100 }}\npki: {{ key_algorithm: {} }}\n",
        alg.as_str()
    ));
    let spec = config::parse_str(&yaml).map_err(|f| anyhow::anyhow!("{f:?}"))?;
    let errors: Vec<_> = config::validate(&spec)
        .into_iter()
        .filter(|f| f.is_error())
        .collect();
    if !errors.is_empty() {
        bail!("bench cluster file: {errors:?}");
    }
    Ok(spec)
}

/// `n` keys of `alg`, spread over every core the way `ensure` does: the floor of what making
/// the PKI can cost.
fn keygen_on_all_cores(alg: KeyAlgorithm, n: usize) {
    let cores = std::thread::available_parallelism()
        .map(|c| c.get())
        .unwrap_or(1);
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..cores {
            s.spawn(|| {
                while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < n {
                    let k = match alg {
                        KeyAlgorithm::Rsa => rcgen::KeyPair::generate_rsa_for(
                            &rcgen::PKCS_RSA_SHA256,
                            rcgen::RsaKeySize::_2048,
                        ),
                        KeyAlgorithm::Ecdsa => {
                            rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                        }
                    };
                    k.expect("key generation");
                }
            });
        }
    });
}
