//! Which Kubernetes versions have which flags, files and runtimes: the one table of version rules
//! (DESIGN.md, "Versions"). Validation, templates and the wizard ask [`has`]; nothing else
//! compares Kubernetes versions. A new version-dependent flag is one more [`Feature`] and one
//! more line in [`RULES`].

use super::text::major_minor;
use std::fmt;

/// A Kubernetes minor release, e.g. 1.24: version rules never depend on the patch number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Minor {
    pub major: u32,
    pub minor: u32,
}

impl Minor {
    pub const fn new(major: u32, minor: u32) -> Minor {
        Minor { major, minor }
    }

    /// The minor release of `1.32.0` or `v1.32.0`; `None` when the text is not a version.
    pub fn of(version: &str) -> Option<Minor> {
        major_minor(version).map(|(major, minor)| Minor { major, minor })
    }

    /// The release after this one (1.23 → 1.24).
    pub const fn next(self) -> Minor {
        Minor::new(self.major, self.minor + 1)
    }
}

impl fmt::Display for Minor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Something only some Kubernetes versions have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Feature {
    /// kubelet's built-in docker support: `runtime: docker` without cri-dockerd.
    Dockershim,
    /// kube-apiserver's `--service-account-issuer` and `--service-account-signing-key-file`,
    /// required from 1.20 (bound service-account tokens).
    ServiceAccountIssuer,
    /// kube-apiserver accepts a service CIDR of more than 20 host bits (the ServiceCIDR
    /// allocator, MultiCIDRServiceAllocator, GA in 1.33; before it a bitmap caps the range).
    LargeServiceCidr,
    /// kube-apiserver's `--insecure-port` (kubewiz sets it to 0): a no-op since 1.20, removed in
    /// 1.24, where the flag makes the apiserver refuse to start.
    ApiserverInsecurePort,
    /// kube-controller-manager's `--port` (0: no insecure serving on 10252); insecure serving
    /// was disabled in 1.22 (the flag itself went in 1.24).
    ControllerManagerInsecurePort,
    /// kube-scheduler's `--port` (0: no insecure serving on 10251); a no-op from 1.23.
    SchedulerInsecurePort,
    /// kubelet's `--container-runtime` (docker or remote), removed in 1.27 (remote only).
    KubeletContainerRuntimeFlag,
    /// kubeadm's `node-role.kubernetes.io/master` label and taint on masters, until 1.23 (1.24
    /// labels `control-plane` only).
    MasterRoleLabel,
    /// kubeadm's `node-role.kubernetes.io/control-plane` label, from 1.20.
    ControlPlaneRoleLabel,
}

impl Feature {
    pub const ALL: [Feature; 9] = [
        Feature::Dockershim,
        Feature::ServiceAccountIssuer,
        Feature::LargeServiceCidr,
        Feature::ApiserverInsecurePort,
        Feature::ControllerManagerInsecurePort,
        Feature::SchedulerInsecurePort,
        Feature::KubeletContainerRuntimeFlag,
        Feature::MasterRoleLabel,
        Feature::ControlPlaneRoleLabel,
    ];

    /// The name templates see it under (`{% if features.dockershim %}`).
    pub fn name(self) -> &'static str {
        match self {
            Feature::Dockershim => "dockershim",
            Feature::ServiceAccountIssuer => "service_account_issuer",
            Feature::LargeServiceCidr => "large_service_cidr",
            Feature::ApiserverInsecurePort => "apiserver_insecure_port",
            Feature::ControllerManagerInsecurePort => "controller_manager_insecure_port",
            Feature::SchedulerInsecurePort => "scheduler_insecure_port",
            Feature::KubeletContainerRuntimeFlag => "kubelet_container_runtime_flag",
            Feature::MasterRoleLabel => "master_role_label",
            Feature::ControlPlaneRoleLabel => "control_plane_role_label",
        }
    }
}

/// The Kubernetes releases a feature exists in: `since ..= until`, either end open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rule {
    pub feature: Feature,
    /// First release with it; `None`: every release kubewiz knows.
    pub since: Option<Minor>,
    /// Last release with it; `None`: still there.
    pub until: Option<Minor>,
}

/// The table. One line per feature (a test checks every feature has exactly one).
pub const RULES: &[Rule] = &[
    // Dockershim was removed from kubelet in 1.24.
    Rule {
        feature: Feature::Dockershim,
        since: None,
        until: Some(Minor::new(1, 23)),
    },
    Rule {
        feature: Feature::ServiceAccountIssuer,
        since: Some(Minor::new(1, 20)),
        until: None,
    },
    Rule {
        feature: Feature::LargeServiceCidr,
        since: Some(Minor::new(1, 33)),
        until: None,
    },
    Rule {
        feature: Feature::ApiserverInsecurePort,
        since: None,
        until: Some(Minor::new(1, 23)),
    },
    Rule {
        feature: Feature::ControllerManagerInsecurePort,
        since: None,
        until: Some(Minor::new(1, 21)),
    },
    Rule {
        feature: Feature::SchedulerInsecurePort,
        since: None,
        until: Some(Minor::new(1, 22)),
    },
    Rule {
        feature: Feature::KubeletContainerRuntimeFlag,
        since: None,
        until: Some(Minor::new(1, 26)),
    },
    Rule {
        feature: Feature::MasterRoleLabel,
        since: None,
        until: Some(Minor::new(1, 23)),
    },
    Rule {
        feature: Feature::ControlPlaneRoleLabel,
        since: Some(Minor::new(1, 20)),
        until: None,
    },
];

impl Rule {
    pub fn covers(&self, release: Minor) -> bool {
        self.since.is_none_or(|s| release >= s) && self.until.is_none_or(|u| release <= u)
    }
}

/// The line of the table for `feature`.
pub fn rule(feature: Feature) -> &'static Rule {
    RULES
        .iter()
        .find(|r| r.feature == feature)
        .expect("every feature has a line in RULES")
}

/// Whether Kubernetes `version` (`1.32.0`, `v1.23.17`) has `feature`; `None` when the version
/// does not parse (validation reports that on `versions.kubernetes` itself).
pub fn has(feature: Feature, version: &str) -> Option<bool> {
    Minor::of(version).map(|release| rule(feature).covers(release))
}

/// Every feature and whether `version` has it, by [`Feature::name`]: the `features` a template
/// sees. An unparsable version has none.
pub fn features(version: &str) -> Vec<(&'static str, bool)> {
    Feature::ALL
        .iter()
        .map(|&f| (f.name(), has(f, version) == Some(true)))
        .collect()
}

/// The pause (pod sandbox) image of each Kubernetes release, from kubeadm's constants: the one
/// place it is named. containerd's `sandbox_image` (runtime stage) and kubelet's
/// `--pod-infra-container-image` use it, so a pinned, preloaded image is never pulled.
/// Each line holds from its release until the next line's.
const PAUSE_IMAGES: &[(Minor, &str)] = &[
    (Minor::new(1, 19), "k8s.gcr.io/pause:3.2"),
    (Minor::new(1, 21), "k8s.gcr.io/pause:3.4.1"),
    (Minor::new(1, 22), "k8s.gcr.io/pause:3.5"),
    (Minor::new(1, 23), "k8s.gcr.io/pause:3.6"),
    (Minor::new(1, 24), "k8s.gcr.io/pause:3.7"),
    (Minor::new(1, 25), "registry.k8s.io/pause:3.8"),
    (Minor::new(1, 26), "registry.k8s.io/pause:3.9"),
    (Minor::new(1, 31), "registry.k8s.io/pause:3.10"),
];

/// The pause image for Kubernetes `version`; the oldest known one for older releases, the
/// newest for an unparsable version (validation reports that on `versions.kubernetes`).
pub fn pause_image(version: &str) -> &'static str {
    let Some(release) = Minor::of(version) else {
        return PAUSE_IMAGES[PAUSE_IMAGES.len() - 1].1;
    };
    PAUSE_IMAGES
        .iter()
        .rev()
        .find(|(since, _)| release >= *since)
        .unwrap_or(&PAUSE_IMAGES[0])
        .1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pause_images_by_release() {
        assert_eq!(pause_image("1.20.2"), "k8s.gcr.io/pause:3.2");
        assert_eq!(pause_image("v1.21.0"), "k8s.gcr.io/pause:3.4.1");
        assert_eq!(pause_image("1.23.17"), "k8s.gcr.io/pause:3.6");
        assert_eq!(pause_image("1.30.1"), "registry.k8s.io/pause:3.9");
        assert_eq!(pause_image("1.32.0"), "registry.k8s.io/pause:3.10");
        assert_eq!(pause_image("1.10.0"), "k8s.gcr.io/pause:3.2");
        let minors: Vec<Minor> = PAUSE_IMAGES.iter().map(|(m, _)| *m).collect();
        assert!(minors.windows(2).all(|w| w[0] < w[1]), "sorted: {minors:?}");
    }

    #[test]
    fn every_feature_has_one_rule() {
        for f in Feature::ALL {
            assert_eq!(RULES.iter().filter(|r| r.feature == f).count(), 1, "{f:?}");
        }
        assert_eq!(RULES.len(), Feature::ALL.len());
    }

    #[test]
    fn dockershim_ends_with_1_23() {
        assert_eq!(has(Feature::Dockershim, "1.23.17"), Some(true));
        assert_eq!(has(Feature::Dockershim, "v1.18.0"), Some(true));
        assert_eq!(has(Feature::Dockershim, "1.24.0"), Some(false));
        assert_eq!(has(Feature::Dockershim, "1.32.0"), Some(false));
        assert_eq!(has(Feature::Dockershim, "2.0.0"), Some(false));
        assert_eq!(has(Feature::Dockershim, "latest"), None);
    }

    #[test]
    fn service_account_issuer_from_1_20() {
        assert_eq!(has(Feature::ServiceAccountIssuer, "1.19.16"), Some(false));
        assert_eq!(has(Feature::ServiceAccountIssuer, "1.20.0"), Some(true));
        assert_eq!(has(Feature::ServiceAccountIssuer, "1.32.0"), Some(true));
    }

    #[test]
    fn large_service_cidr_from_1_33() {
        assert_eq!(has(Feature::LargeServiceCidr, "1.32.9"), Some(false));
        assert_eq!(has(Feature::LargeServiceCidr, "1.33.0"), Some(true));
    }

    #[test]
    fn insecure_port_flags_end_before_their_removal() {
        assert_eq!(has(Feature::ApiserverInsecurePort, "1.20.2"), Some(true));
        assert_eq!(has(Feature::ApiserverInsecurePort, "1.23.17"), Some(true));
        assert_eq!(has(Feature::ApiserverInsecurePort, "1.24.0"), Some(false));
        assert_eq!(
            has(Feature::ControllerManagerInsecurePort, "1.21.9"),
            Some(true)
        );
        assert_eq!(
            has(Feature::ControllerManagerInsecurePort, "1.22.0"),
            Some(false)
        );
        assert_eq!(has(Feature::SchedulerInsecurePort, "1.22.0"), Some(true));
        assert_eq!(has(Feature::SchedulerInsecurePort, "1.23.0"), Some(false));
    }

    #[test]
    fn kubelet_and_role_labels_by_release() {
        assert_eq!(
            has(Feature::KubeletContainerRuntimeFlag, "1.26.9"),
            Some(true)
        );
        assert_eq!(
            has(Feature::KubeletContainerRuntimeFlag, "1.27.0"),
            Some(false)
        );
        assert_eq!(has(Feature::MasterRoleLabel, "1.20.2"), Some(true));
        assert_eq!(has(Feature::MasterRoleLabel, "1.24.0"), Some(false));
        assert_eq!(has(Feature::ControlPlaneRoleLabel, "1.19.0"), Some(false));
        assert_eq!(has(Feature::ControlPlaneRoleLabel, "1.20.2"), Some(true));
    }

    #[test]
    fn template_features() {
        assert_eq!(
            features("1.23.0"),
            [
                ("dockershim", true),
                ("service_account_issuer", true),
                ("large_service_cidr", false),
                ("apiserver_insecure_port", true),
                ("controller_manager_insecure_port", false),
                ("scheduler_insecure_port", false),
                ("kubelet_container_runtime_flag", true),
                ("master_role_label", true),
                ("control_plane_role_label", true),
            ]
        );
        assert!(features("x").iter().all(|(_, on)| !on));
    }

    #[test]
    fn minors() {
        assert_eq!(Minor::of("v1.23.4"), Some(Minor::new(1, 23)));
        assert_eq!(Minor::new(1, 23).next().to_string(), "1.24");
        assert!(Minor::new(1, 9) < Minor::new(1, 10));
    }
}
