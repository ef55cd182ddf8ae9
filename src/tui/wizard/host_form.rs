//! The forms of the hosts screen: the defaults every host inherits and one host, each built
//! from the spec and read back into it.

use super::non_empty;
use crate::config::{AuthSpec, Finding, HostDefaults, HostSpec, Role};
use crate::tui::input::{Field, Form};
use std::path::{Path, PathBuf};

pub fn defaults_form(d: &HostDefaults) -> Form {
    let mut fields = vec![
        Field::text(
            "user",
            "User",
            "defaults.user",
            d.user.as_deref().unwrap_or(""),
        )
        .hint("user to log in as; blank: root"),
        Field::text(
            "port",
            "Port",
            "defaults.port",
            &d.port.map(|p| p.to_string()).unwrap_or_default(),
        )
        .hint("ssh port; blank: 22"),
    ];
    fields.extend(auth_fields(d.auth.as_ref(), "defaults", false));
    let sudo = match d.sudo {
        None => "auto",
        Some(true) => "yes",
        Some(false) => "no",
    };
    fields.push(
        Field::choice(
            "sudo",
            "Sudo",
            "defaults.sudo",
            &["auto", "yes", "no"],
            sudo,
        )
        .hint("run commands with sudo; auto: yes unless the user is root"),
    );
    Form::new(fields)
}

/// The defaults as the form says, and the fields' type errors.
pub fn defaults_from(f: &Form) -> (HostDefaults, Vec<Finding>) {
    let mut local = vec![];
    let mut d = HostDefaults {
        port: None,
        user: non_empty(&f.value("user")),
        auth: auth_from(
            &f.value("auth"),
            &f.value("key_file"),
            &f.value("password_env"),
        ),
        sudo: sudo_from(&f.value("sudo")),
    };
    match parse_port(&f.value("port")) {
        Ok(p) => d.port = p,
        Err(e) => local.push(Finding::error("defaults.port", e)),
    }
    (d, local)
}

pub fn host_form(h: &HostSpec, i: usize) -> Form {
    let at = format!("hosts[{i}]");
    let mut fields = vec![
        Field::text("name", "Name", &format!("{at}.name"), &h.name)
            .hint("RFC 1123 host name; prep sets it as the machine's hostname"),
        Field::text("address", "Address", &format!("{at}.address"), &h.address)
            .hint("IPv4 or IPv6 address kubewiz connects to and the cluster uses"),
        Field::text(
            "port",
            "Port",
            &format!("{at}.port"),
            &h.port.map(|p| p.to_string()).unwrap_or_default(),
        )
        .hint("blank: the default"),
        Field::text(
            "user",
            "User",
            &format!("{at}.user"),
            h.user.as_deref().unwrap_or(""),
        )
        .hint("blank: the default"),
    ];
    fields.extend(auth_fields(h.auth.as_ref(), &at, true));
    let sudo = match h.sudo {
        None => "default",
        Some(true) => "yes",
        Some(false) => "no",
    };
    fields.push(Field::choice(
        "sudo",
        "Sudo",
        &format!("{at}.sudo"),
        &["default", "yes", "no"],
        sudo,
    ));
    let on: Vec<&str> = h.roles.iter().map(|r| r.as_str()).collect();
    let names: Vec<&'static str> = Role::ALL.iter().map(|r| r.as_str()).collect();
    fields.push(
        Field::flags("roles", "Roles", &format!("{at}.roles"), &names, &on).hint(
            "space or e/m/n toggles; etcd: an etcd member; master: control plane; node: runs pods",
        ),
    );
    Form::new(fields)
}

/// Host `i` as the form says, into `h`; returns the fields' type errors.
pub fn host_from(f: &Form, i: usize, h: &mut HostSpec) -> Vec<Finding> {
    let mut local = vec![];
    h.name = f.value("name").trim().to_string();
    h.address = f.value("address").trim().to_string();
    match parse_port(&f.value("port")) {
        Ok(p) => h.port = p,
        Err(msg) => local.push(Finding::error(format!("hosts[{i}].port"), msg)),
    }
    h.user = non_empty(&f.value("user"));
    h.auth = match f.value("auth").as_str() {
        "default" => None,
        m => auth_from(m, &f.value("key_file"), &f.value("password_env")),
    };
    h.sudo = sudo_from(&f.value("sudo"));
    h.roles = f
        .value("roles")
        .split(',')
        .filter_map(|r| r.parse::<Role>().ok())
        .collect();
    local
}

fn sudo_from(v: &str) -> Option<bool> {
    match v {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

fn parse_port(s: &str) -> Result<Option<u16>, String> {
    let t = s.trim();
    if t.is_empty() {
        return Ok(None);
    }
    t.parse::<u16>()
        .map(Some)
        .map_err(|_| format!("{t:?} is not a port number; use 1-65535 (22 for ssh)"))
}

fn auth_from(method: &str, key_file: &str, password_env: &str) -> Option<AuthSpec> {
    match method {
        "key" => Some(AuthSpec::Key {
            key_file: PathBuf::from(key_file.trim()),
            passphrase_env: None,
        }),
        "password" => Some(AuthSpec::Password {
            password_env: non_empty(password_env),
        }),
        "agent" => Some(AuthSpec::Agent),
        _ => None,
    }
}

/// How the hosts table shows a login method.
pub fn auth_label(a: &AuthSpec) -> String {
    match a {
        AuthSpec::Agent => "agent".into(),
        AuthSpec::Key { key_file, .. } => format!(
            "key {}",
            Path::new(key_file)
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default()
        ),
        AuthSpec::Password { .. } => "password".into(),
    }
}

fn auth_fields(auth: Option<&AuthSpec>, path: &str, with_default: bool) -> Vec<Field> {
    let (method, key_file, pw_env) = match auth {
        None => (
            if with_default { "default" } else { "agent" },
            String::new(),
            String::new(),
        ),
        Some(AuthSpec::Agent) => ("agent", String::new(), String::new()),
        Some(AuthSpec::Key { key_file, .. }) => {
            ("key", key_file.display().to_string(), String::new())
        }
        Some(AuthSpec::Password { password_env }) => (
            "password",
            String::new(),
            password_env.clone().unwrap_or_default(),
        ),
    };
    let options: &[&'static str] = if with_default {
        &["default", "agent", "key", "password"]
    } else {
        &["agent", "key", "password"]
    };
    let mut v = vec![Field::choice("auth", "Auth", &format!("{path}.auth"), options, method)
        .hint("agent: keys of the running ssh-agent; key: a private key file; password: asked for, never saved")];
    match method {
        "key" => v.push(
            Field::text("key_file", "Key file", &format!("{path}.auth.key_file"), &key_file)
                .hint("path of the private key, e.g. ~/.ssh/id_ed25519"),
        ),
        "password" => v.push(
            Field::text("password_env", "Password var", &format!("{path}.auth.password_env"), &pw_env)
                .hint("optional: environment variable holding the password; otherwise you are asked for it"),
        ),
        _ => {}
    }
    v
}
