//! "Did you mean": the closest of the names a place accepts to what the
//! suite wrote (Damerau-Levenshtein distance through `strsim`, the crate
//! clap uses for the same), and the Cilium profile that stands for a
//! release the suite names but svclab has no profile of its own for.

/// The candidate nearest to `word`, if it is near enough to be a typo: at
/// most a third of the word's length in edits (at least 1, at most 3).
#[must_use]
pub fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Longer than any name a suite declares: no typo of one.
    const LONGEST: usize = 64;
    let len = word.chars().count();
    if len > LONGEST {
        return None;
    }
    let limit = (len / 3).clamp(1, 3);
    candidates
        .into_iter()
        // A length difference alone past the limit rules a name out cheaply.
        .filter(|c| c.len().abs_diff(word.len()) <= limit && c.len() <= LONGEST)
        .map(|c| (strsim::damerau_levenshtein(word, c), c))
        .filter(|(d, c)| *d <= limit && *c != word)
        // Ties by name: the same suggestion on every run.
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// " (did you mean `x`?)" for [`closest`], or nothing.
#[must_use]
pub fn hint<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> String {
    closest(word, candidates).map_or_else(String::new, |c| format!(" (did you mean `{c}`?)"))
}

/// The names in a serde "expected" list: every `backticked` word.
#[must_use]
pub fn backticked(list: &str) -> Vec<&str> {
    list.split('`').skip(1).step_by(2).collect()
}

/// The profile covering a Cilium release svclab has no profile named
/// after, with why: `cilium-1.13` → `cilium-1.12`, whose CT rules hold
/// through 1.14.
#[must_use]
pub fn profile_for_release(written: &str) -> Option<&'static str> {
    let v = written.strip_prefix("cilium-").unwrap_or(written);
    let v = v.strip_prefix('v').unwrap_or(v);
    let mut parts = v.split('.').map(str::parse::<u32>);
    let (Some(Ok(major)), Some(Ok(minor))) = (parts.next(), parts.next()) else {
        return None;
    };
    let patch = parts.next().and_then(Result::ok).unwrap_or(0);
    if major != 1 {
        return None;
    }
    Some(match minor {
        0..=10 => return None,
        11 => "`cilium-1.11`",
        12..=14 => {
            "`cilium-1.12` (its CT rules hold through 1.14; its clock, terminating fallback and no-backend drop are 1.12's)"
        }
        15 if patch >= 8 => "`cilium-1.15.8` (PR 33907 backported)",
        15 => "`cilium-1.15` (1.15.0-1.15.7)",
        _ => "`cilium-1.16` (the newest rules svclab models)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_get_the_nearest_name_and_strangers_none() {
        let fields = ["replicas", "server", "probes", "nodes"];
        assert_eq!(closest("replcas", fields), Some("replicas"));
        assert_eq!(closest("sever", fields), Some("server"));
        assert_eq!(closest("probe", fields), Some("probes"));
        assert_eq!(closest("bananas", fields), None);
        assert_eq!(hint("nodse", fields), " (did you mean `nodes`?)");
        assert_eq!(hint("zzz", fields), "");
        // Ties go to the smallest name, whatever the candidates' order.
        assert_eq!(closest("web3", ["web4", "web1", "web2"]), Some("web1"));
        assert_eq!(closest("web3", ["web2", "web4", "web1"]), Some("web1"));
        // Nothing for words longer than any name.
        assert_eq!(closest(&"a".repeat(100), ["a"]), None);
        assert_eq!(
            backticked("expected one of `a`, `bb` or `c`"),
            ["a", "bb", "c"]
        );
    }

    #[test]
    fn releases_map_to_the_profile_that_covers_them() {
        assert!(profile_for_release("cilium-1.13").is_some_and(|p| p.starts_with("`cilium-1.12`")));
        assert!(
            profile_for_release("cilium-1.14.3").is_some_and(|p| p.starts_with("`cilium-1.12`"))
        );
        assert!(
            profile_for_release("cilium-1.15.9").is_some_and(|p| p.starts_with("`cilium-1.15.8`"))
        );
        assert!(profile_for_release("1.15.2").is_some_and(|p| p.starts_with("`cilium-1.15`")));
        assert!(profile_for_release("cilium-1.17").is_some_and(|p| p.starts_with("`cilium-1.16`")));
        assert_eq!(profile_for_release("cilium-1.9"), None);
        assert_eq!(profile_for_release("random"), None);
    }
}
