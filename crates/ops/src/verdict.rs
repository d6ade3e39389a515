//! [`Verdict`]: how a run over several items went, for its exit code.

use crate::Failure;

/// How a run over several sources went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Everything succeeded (or there was nothing to do).
    Success,
    /// Some items failed, others succeeded.
    Partial,
    /// Everything failed; the failure that says most.
    Failed(Failure),
}

impl Verdict {
    /// The verdict over items that each succeeded (`None`) or failed.
    pub fn of(items: impl IntoIterator<Item = Option<Failure>>) -> Self {
        let mut succeeded = 0;
        let mut failures = Vec::new();
        for item in items {
            match item {
                None => succeeded += 1,
                Some(failure) => failures.push(failure),
            }
        }
        match Failure::worst(failures) {
            None => Verdict::Success,
            Some(_) if succeeded > 0 => Verdict::Partial,
            Some(worst) => Verdict::Failed(worst),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn some_failed_is_partial_all_failed_is_the_worst() {
        assert_eq!(Verdict::of([None, None]), Verdict::Success);
        assert_eq!(Verdict::of([]), Verdict::Success);
        assert_eq!(
            Verdict::of([None, Some(Failure::Integrity)]),
            Verdict::Partial
        );
        assert_eq!(
            Verdict::of([Some(Failure::Failed), Some(Failure::Decrypt)]),
            Verdict::Failed(Failure::Decrypt)
        );
    }
}
