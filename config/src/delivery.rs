//! submitd's outbound delivery settings (`[submitd.delivery]`): transports, the routes
//! that choose them, retry timing and DKIM signing.

use serde::{Deserialize, Serialize};

/// How submitd delivers what it queued.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct DeliveryConfig {}
