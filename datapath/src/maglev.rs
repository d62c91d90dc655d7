//! Maglev lookup-table population (Eisenbud et al., NSDI'16, as in Cilium's
//! `pkg/maglev`): each backend walks its own permutation of the table and
//! claims free slots in turn, which spreads slots evenly and moves few of them
//! when the backend set changes.
use std::hash::Hasher as _;

use siphasher::sip::SipHasher13;

/// Returns a table of `m` backend ids (`m` prime). `backends` are
/// (id, stable name) pairs; the order does not matter. An empty set yields an
/// all-zero table, which the datapath reads as "no backend".
pub fn populate(backends: &[(u32, String)], m: u32, seed: u32) -> Vec<u32> {
    let m = m as usize;
    let mut table = vec![0u32; m];
    if backends.is_empty() || m < 2 {
        return table;
    }
    let mut sorted: Vec<&(u32, String)> = backends.iter().collect();
    sorted.sort_by(|a, b| a.1.cmp(&b.1));
    let perms: Vec<(usize, usize)> = sorted
        .iter()
        .map(|(_, name)| {
            let offset = hash(name, seed, 0) as usize % m;
            let skip = hash(name, seed, 1) as usize % (m - 1) + 1;
            (offset, skip)
        })
        .collect();
    let mut next = vec![0usize; sorted.len()];
    let mut filled = vec![false; m];
    let mut n = 0;
    'fill: loop {
        for (i, (id, _)) in sorted.iter().enumerate() {
            let (offset, skip) = perms[i];
            let mut c = (offset + next[i] * skip) % m;
            while filled[c] {
                next[i] += 1;
                c = (offset + next[i] * skip) % m;
            }
            table[c] = *id;
            filled[c] = true;
            next[i] += 1;
            n += 1;
            if n == m {
                break 'fill;
            }
        }
    }
    table
}

fn hash(name: &str, seed: u32, which: u64) -> u64 {
    let mut h = SipHasher13::new_with_keys(u64::from(seed), which);
    h.write(name.as_bytes());
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_split_evenly_and_move_little() {
        let m = 16381;
        let names = |n: u32| {
            (1..=n)
                .map(|i| (i, format!("198.18.0.{i}:80")))
                .collect::<Vec<_>>()
        };
        let t3 = populate(&names(3), m, 7);
        for id in 1..=3 {
            let share = t3.iter().filter(|&&x| x == id).count() as f64 / f64::from(m);
            assert!(
                (share - 1.0 / 3.0).abs() < 0.01,
                "backend {id} share {share}"
            );
        }
        let t4 = populate(&names(4), m, 7);
        let moved = t3.iter().zip(&t4).filter(|(a, b)| a != b).count() as f64 / f64::from(m);
        // Ideal is 1/4 of the slots moving to the new backend; Maglev is near it.
        assert!(moved < 0.35, "moved {moved}");
        assert!(populate(&[], m, 7).iter().all(|&x| x == 0));
    }
}
