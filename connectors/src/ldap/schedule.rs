//! The order a batch is applied in: phase by phase (ascending), and inside a phase one chain per
//! key, run one after the other, while chains of different keys run side by side. Pure, so the
//! rules are tested without a server.

use std::borrow::Borrow;

use orgid_directory::target::ldap::QueuedOp;

/// One phase of a batch: chains of op indices, one chain per key in order of first appearance;
/// each chain keeps the given order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Phase {
    pub phase: u8,
    pub chains: Vec<Vec<usize>>,
}

/// [`schedule_of`] of owned operations.
#[cfg(test)]
pub(crate) fn schedule(ops: &[QueuedOp]) -> Vec<Phase> {
    schedule_of(ops)
}

/// Groups `ops` (owned or borrowed) by phase (ascending) and, within a phase, by key, keeping
/// the given order.
pub(crate) fn schedule_of<Q: Borrow<QueuedOp>>(ops: &[Q]) -> Vec<Phase> {
    let mut phases: Vec<u8> = ops.iter().map(|o| o.borrow().phase).collect();
    phases.sort_unstable();
    phases.dedup();
    phases
        .into_iter()
        .map(|phase| {
            let mut chains: Vec<Vec<usize>> = Vec::new();
            let mut chain_of: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
            for (i, op) in ops.iter().map(Borrow::borrow).enumerate().filter(|(_, o)| o.phase == phase) {
                let slot = *chain_of.entry(op.key.as_str()).or_insert_with(|| {
                    chains.push(Vec::new());
                    chains.len() - 1
                });
                chains[slot].push(i);
            }
            Phase { phase, chains }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use orgid_directory::target::ldap::{DirOp, Dn};

    fn op(key: &str, phase: u8) -> QueuedOp {
        QueuedOp { key: key.into(), phase, op: DirOp::Delete { dn: Dn::default() } }
    }

    #[test]
    fn groups_by_phase_then_key_keeping_order() {
        let ops = [op("b", 1), op("a", 0), op("b", 1), op("c", 1), op("a", 0), op("b", 3), op("a", 1)];
        let got = schedule(&ops);
        assert_eq!(
            got,
            vec![
                Phase { phase: 0, chains: vec![vec![1, 4]] },
                Phase { phase: 1, chains: vec![vec![0, 2], vec![3], vec![6]] },
                Phase { phase: 3, chains: vec![vec![5]] },
            ]
        );
    }

    #[test]
    fn empty_batch_has_no_phases() {
        assert_eq!(schedule(&[]), Vec::<Phase>::new());
    }

    #[test]
    fn every_op_is_scheduled_exactly_once() {
        let ops: Vec<QueuedOp> = (0..100).map(|i| op(&format!("k{}", i % 7), (i % 4) as u8)).collect();
        let mut seen: Vec<usize> = schedule(&ops).into_iter().flat_map(|p| p.chains.into_iter().flatten()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }
}
