//! Safety before speed: an empty or shrunken source is an error, and a plan that closes too many
//! accounts is held for approval instead of applied.

use orgid_config::SafetyConfig;

use crate::Plan;

/// Refuses a source that delivered nobody, or far fewer people than the last applied run.
pub fn check_source_size(active_people: u64, last_applied: Option<u64>, cfg: &SafetyConfig) -> Result<(), String> {
    if active_people == 0 {
        return Err("the sources delivered no active people; refusing to treat that as everyone leaving".into());
    }
    if let Some(last) = last_applied.filter(|&l| l > 0) {
        let floor = (last as f64) * (1.0 - cfg.max_shrink_share);
        if (active_people as f64) < floor {
            let fell = 100.0 * (1.0 - active_people as f64 / last as f64);
            return Err(format!(
                "the sources delivered {active_people} active people, {fell:.1}% fewer than the {last} of the last applied run \
                 (limit safety.max_shrink_share = {:.1}%); check the export before syncing",
                cfg.max_shrink_share * 100.0
            ));
        }
    }
    Ok(())
}

/// Why a plan must wait for approval, if it must.
pub fn hold_reason(plan: &Plan, cfg: &SafetyConfig) -> Option<String> {
    let closes = plan.counts.close;
    if closes == 0 {
        return None;
    }
    if closes > cfg.max_close_count {
        return Some(format!(
            "the plan closes {closes} accounts, more than safety.max_close_count = {}",
            cfg.max_close_count
        ));
    }
    let base = plan.active_before.max(1) as f64;
    let share = closes as f64 / base;
    if share > cfg.max_close_share {
        return Some(format!(
            "the plan closes {closes} of {} active accounts ({:.1}%), more than safety.max_close_share = {:.1}%",
            plan.active_before,
            share * 100.0,
            cfg.max_close_share * 100.0
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(closes: u64, active_before: u64) -> Plan {
        let mut p = Plan { active_before, ..Plan::default() };
        p.counts.close = closes;
        p
    }

    #[test]
    fn empty_source_is_an_error_even_on_first_run() {
        assert!(check_source_size(0, None, &SafetyConfig::default()).is_err());
        assert!(check_source_size(1, None, &SafetyConfig::default()).is_ok());
    }

    #[test]
    fn shrink_beyond_the_share_is_an_error() {
        let cfg = SafetyConfig::default(); // 10%
        assert!(check_source_size(900, Some(1000), &cfg).is_ok());
        let e = check_source_size(899, Some(1000), &cfg).expect_err("shrunk");
        assert!(e.contains("10.1% fewer") && e.contains("1000"), "{e}");
    }

    #[test]
    fn holds_on_count_or_share() {
        let cfg = SafetyConfig::default(); // 500 and 5%
        assert_eq!(hold_reason(&plan(0, 0), &cfg), None);
        assert_eq!(hold_reason(&plan(500, 100_000), &cfg), None);
        assert!(hold_reason(&plan(501, 100_000), &cfg).is_some_and(|r| r.contains("max_close_count")));
        assert_eq!(hold_reason(&plan(5, 100), &cfg), None, "exactly 5% is allowed");
        assert!(hold_reason(&plan(6, 100), &cfg).is_some_and(|r| r.contains("6 of 100") && r.contains("6.0%")));
        assert!(hold_reason(&plan(1, 0), &cfg).is_some(), "closing from nothing is a 100% share");
    }
}
