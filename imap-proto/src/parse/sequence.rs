//! Sequence sets (`1:3,7,*`, `$`).

use super::cursor::{Parser, R};
use crate::types::{SeqNum, SequenceSet};

impl Parser<'_> {
    fn seq_num(&mut self) -> R<SeqNum> {
        if self.eat(b'*') {
            Ok(SeqNum::Star)
        } else {
            Ok(SeqNum::Value(self.nz_number()?))
        }
    }

    pub(super) fn sequence_set(&mut self) -> R<SequenceSet> {
        if self.eat(b'$') {
            return Ok(SequenceSet::Saved);
        }
        let mut v = Vec::new();
        loop {
            let a = self.seq_num()?;
            let b = if self.eat(b':') { self.seq_num()? } else { a };
            v.push((a, b));
            if !self.eat(b',') {
                break;
            }
        }
        Ok(SequenceSet::Ranges(v))
    }
}
