//! Route matching: which transport an attempt uses (account routes, then the sender
//! domain's, then global ones; the first match wins; none: direct delivery).

use postern_config::delivery::{DeliveryConfig, Route};

/// Whether `domain` matches one entry of `patterns` (empty: everything; `.example.org`
/// is that domain and its subdomains; otherwise an exact, case-insensitive match).
pub fn domain_matches(patterns: &[String], domain: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let domain = domain.trim_end_matches('.').to_ascii_lowercase();
    patterns.iter().any(|pattern| {
        let pattern = pattern.trim_end_matches('.').to_ascii_lowercase();
        match pattern.strip_prefix('.') {
            Some(parent) => domain == parent || domain.ends_with(&format!(".{parent}")),
            None => domain == pattern,
        }
    })
}

fn route_matches(route: &Route, from_domain: &str, to_domain: &str, attempts: u32) -> bool {
    attempts >= route.minimum_attempts
        && domain_matches(&route.from_domains, from_domain)
        && domain_matches(&route.to_domains, to_domain)
}

/// The transport name for an attempt (`attempts` made before it), or `None` for direct
/// delivery.
pub fn choose<'a>(
    config: &'a DeliveryConfig,
    account: &str,
    from_domain: &str,
    to_domain: &str,
    attempts: u32,
) -> Option<&'a str> {
    let from_lower = from_domain.to_ascii_lowercase();
    let account_routes = config.account_routes.get(account).into_iter().flatten();
    let domain_routes = config
        .domain_routes
        .iter()
        .filter(|(domain, _)| domain.to_ascii_lowercase() == from_lower)
        .flat_map(|(_, routes)| routes);
    account_routes
        .chain(domain_routes)
        .chain(config.routes.iter())
        .find(|route| route_matches(route, from_domain, to_domain, attempts))
        .map(|route| route.transport.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(from: &[&str], to: &[&str], min: u32, transport: &str) -> Route {
        Route {
            from_domains: from.iter().map(|s| s.to_string()).collect(),
            to_domains: to.iter().map(|s| s.to_string()).collect(),
            minimum_attempts: min,
            transport: transport.into(),
        }
    }

    #[test]
    fn domain_patterns() {
        assert!(domain_matches(&[], "any.example"));
        let p = vec![".example.com".to_string()];
        assert!(domain_matches(&p, "example.com"));
        assert!(domain_matches(&p, "MX.Example.com"));
        assert!(!domain_matches(&p, "badexample.com"));
        assert!(domain_matches(&["example.org".into()], "EXAMPLE.ORG"));
        assert!(!domain_matches(&["example.org".into()], "sub.example.org"));
    }

    #[test]
    fn account_then_domain_then_global_and_attempts() {
        let mut config = DeliveryConfig {
            routes: vec![
                route(&[], &[], 3, "fallback"),
                route(&[], &[".gmail.com"], 0, "g"),
            ],
            ..DeliveryConfig::default()
        };
        config
            .account_routes
            .insert("mjl".into(), vec![route(&[], &["only.example"], 0, "acct")]);
        config
            .domain_routes
            .insert("example.org".into(), vec![route(&[], &[".net"], 0, "dom")]);
        assert_eq!(
            choose(&config, "mjl", "example.org", "only.example", 0),
            Some("acct")
        );
        assert_eq!(
            choose(&config, "other", "example.org", "only.example", 0),
            None
        );
        assert_eq!(
            choose(&config, "mjl", "example.org", "x.net", 0),
            Some("dom")
        );
        assert_eq!(choose(&config, "mjl", "elsewhere.org", "x.net", 0), None);
        assert_eq!(
            choose(&config, "mjl", "elsewhere.org", "x.net", 3),
            Some("fallback")
        );
        assert_eq!(
            choose(&config, "mjl", "elsewhere.org", "mail.gmail.com", 0),
            Some("g")
        );
    }
}
