//! `kubewiz kubeconfig -f FILE`: where the cluster's admin kubeconfig is, and on request
//! (`--merge`) its cluster, user and context merged into ~/.kube/config, atomically, keeping
//! every other entry.

use super::FileArg;
use crate::cluster_dir::{write_atomic, ClusterDir};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use serde_yaml::{Mapping, Value};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, Args)]
pub struct KubeconfigArgs {
    #[command(flatten)]
    pub file: FileArg,
    /// Merge the admin kubeconfig's cluster, user and context into ~/.kube/config (or
    /// $KUBECONFIG's first file): entries of the same name are replaced, all others kept.
    #[arg(long)]
    pub merge: bool,
}

pub fn run(args: &KubeconfigArgs) -> Result<ExitCode> {
    let dir = ClusterDir::of_cluster_file(&args.file.file);
    let admin = std::path::absolute(crate::pki::admin_kubeconfig_path(&dir))?;
    if !admin.is_file() {
        bail!(
            "{} does not exist yet: `kubewiz apply -f {}` (or `kubewiz certs generate`) writes it",
            admin.display(),
            args.file.file.display()
        );
    }
    if !args.merge {
        println!("{}", admin.display());
        println!(
            "try: kubectl --kubeconfig {} get --raw /readyz",
            admin.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let target = user_kubeconfig()?;
    let admin_text =
        std::fs::read_to_string(&admin).with_context(|| format!("reading {}", admin.display()))?;
    let existing = match std::fs::read_to_string(&target) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", target.display())),
    };
    let merged = merge(&existing, &admin_text)
        .with_context(|| format!("merging {} into {}", admin.display(), target.display()))?;
    write_atomic(&target, merged.text.as_bytes(), 0o600)?;
    println!(
        "merged cluster {:?}, user {:?} and context {:?} into {}",
        merged.cluster,
        merged.user,
        merged.context,
        target.display()
    );
    match merged.previous_context {
        None => println!("current context: {}", merged.context),
        Some(c) if c == merged.context => println!("current context: {c}"),
        Some(c) => println!(
            "current context kept: {c}; switch with `kubectl config use-context {}`",
            merged.context
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// $KUBECONFIG's first file, else ~/.kube/config.
fn user_kubeconfig() -> Result<PathBuf> {
    if let Some(first) = std::env::var_os("KUBECONFIG")
        .and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()))
    {
        return Ok(first);
    }
    let home = std::env::var_os("HOME").ok_or_else(|| anyhow!("HOME is not set"))?;
    Ok(Path::new(&home).join(".kube").join("config"))
}

/// What [`merge`] made.
#[derive(Debug)]
pub struct Merged {
    pub text: String,
    pub cluster: String,
    pub user: String,
    pub context: String,
    /// The current context before, if there was one (it is kept).
    pub previous_context: Option<String>,
}

const LISTS: [&str; 3] = ["clusters", "users", "contexts"];

/// `admin`'s clusters, users and contexts merged into `existing` (a kubeconfig's text, empty for
/// none): an entry of the same name is replaced, every other entry kept in its place; the
/// current context is set only when there was none.
pub fn merge(existing: &str, admin: &str) -> Result<Merged> {
    let mut base: Mapping = match existing.trim() {
        "" => Mapping::new(),
        t => serde_yaml::from_str(t).context("the existing kubeconfig is not a YAML mapping")?,
    };
    let admin: Mapping = serde_yaml::from_str(admin).context("the admin kubeconfig")?;
    let key = |k: &str| Value::String(k.into());
    base.entry(key("apiVersion")).or_insert(key("v1"));
    base.entry(key("kind")).or_insert(key("Config"));
    let mut names = vec![];
    for list in LISTS {
        let incoming = admin
            .get(list)
            .and_then(Value::as_sequence)
            .cloned()
            .unwrap_or_default();
        let entries = base.entry(key(list)).or_insert(Value::Sequence(vec![]));
        if entries.is_null() {
            *entries = Value::Sequence(vec![]);
        }
        let seq = entries
            .as_sequence_mut()
            .ok_or_else(|| anyhow!("`{list}` of the existing kubeconfig is not a list"))?;
        for entry in incoming {
            let name = entry
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| anyhow!("an entry of `{list}` in the admin kubeconfig has no name"))?
                .to_string();
            match seq
                .iter_mut()
                .find(|e| e.get("name").and_then(Value::as_str) == Some(name.as_str()))
            {
                Some(old) => *old = entry,
                None => seq.push(entry),
            }
            names.push(name);
        }
    }
    let [cluster, user, context]: [String; 3] = names.try_into().map_err(|n| {
        anyhow!("the admin kubeconfig should hold one cluster, user and context, not {n:?}")
    })?;
    let previous_context = base
        .get("current-context")
        .and_then(Value::as_str)
        .filter(|c| !c.is_empty())
        .map(String::from);
    if previous_context.is_none() {
        base.insert(key("current-context"), key(&context));
    }
    Ok(Merged {
        text: serde_yaml::to_string(&base)?,
        cluster,
        user,
        context,
        previous_context,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An admin kubeconfig as kubewiz writes it (base64 data shortened).
    fn admin(server: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: Q0E=\n    server: {server}\n  name: lab\ncontexts:\n- context:\n    cluster: lab\n    user: \"kubernetes-admin\"\n  name: \"kubernetes-admin@lab\"\ncurrent-context: \"kubernetes-admin@lab\"\npreferences: {{}}\nusers:\n- name: \"kubernetes-admin\"\n  user:\n    client-certificate-data: Q0VSVA==\n    client-key-data: S0VZ\n"
        )
    }

    #[test]
    fn merging_keeps_other_entries_and_replaces_its_own() {
        let other = "apiVersion: v1\nkind: Config\nclusters:\n- name: prod\n  cluster: {server: 'https://prod:6443'}\nusers:\n- name: me\n  user: {token: x}\ncontexts:\n- name: me@prod\n  context: {cluster: prod, user: me}\ncurrent-context: me@prod\n";
        let m = merge(other, &admin("https://10.77.0.11:6443")).unwrap();
        assert_eq!(
            (m.cluster.as_str(), m.user.as_str(), m.context.as_str()),
            ("lab", "kubernetes-admin", "kubernetes-admin@lab")
        );
        assert_eq!(m.previous_context.as_deref(), Some("me@prod"));
        let v: Value = serde_yaml::from_str(&m.text).unwrap();
        assert_eq!(v["current-context"], "me@prod");
        let names = |list: &str| -> Vec<String> {
            v[list]
                .as_sequence()
                .unwrap()
                .iter()
                .map(|e| e["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names("clusters"), ["prod", "lab"]);
        assert_eq!(names("users"), ["me", "kubernetes-admin"]);
        assert_eq!(names("contexts"), ["me@prod", "kubernetes-admin@lab"]);

        // Again, with the lab moved: replaced in place, nothing doubled.
        let again = merge(&m.text, &admin("https://10.77.0.12:6443")).unwrap();
        let v: Value = serde_yaml::from_str(&again.text).unwrap();
        assert_eq!(v["clusters"].as_sequence().unwrap().len(), 2);
        assert_eq!(
            v["clusters"][1]["cluster"]["server"],
            "https://10.77.0.12:6443"
        );
        assert_eq!(v["users"][0]["user"]["token"], "x");
    }

    #[test]
    fn merging_into_nothing_sets_the_context() {
        let m = merge("", &admin("https://10.77.0.11:6443")).unwrap();
        assert!(m.previous_context.is_none());
        let v: Value = serde_yaml::from_str(&m.text).unwrap();
        assert_eq!(v["current-context"], "kubernetes-admin@lab");
        assert_eq!(v["kind"], "Config");
    }
}
