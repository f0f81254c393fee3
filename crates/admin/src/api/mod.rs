//! The JSON types of the admin API, shared by the server and the client.
//!
//! Every type serializes to the exact JSON the server sends; the client deserializes the same
//! types, so the two cannot drift apart. Times are RFC 3339 strings in UTC with second
//! precision (`"2026-11-28T16:39:47Z"`), durations are humantime text (`"30m"`), queue ids are
//! their 26-character text.
//!
//! # Layout
//! - [`time`]: serde helpers for RFC 3339 times and humantime durations.
//! - [`summary`]: [`Summary`]: counts by state and by destination domain.
//! - [`message`]: [`MessageView`], [`RecipientView`], [`ReplyView`], [`AttemptView`],
//!   [`MessagePage`].
//! - [`reload`]: [`ReloadReport`], [`Reloader`].
//! - [`shape`]: [`Shape`], [`ShapeQuery`]: the queue by domain, reply or sender, and by age.
//! - [`filter`]: [`MessageFilter`], the listing and flush filters as query parameters.
//! - [`action`]: [`Action`], [`ActionResult`], [`FlushResult`].
//! - [`bulk`]: [`BulkRequest`], [`BulkResult`], [`BulkSkipped`].
//! - [`destination`]: [`DestinationList`], [`DestinationView`], [`SuspendRequest`],
//!   [`SuspensionView`], [`ResumeResult`].
//! - [`inject`]: [`InjectRequest`], [`InjectResponse`].
//! - [`status`]: [`Health`], [`QuarantineList`], [`ErrorBody`].

pub mod action;
pub mod bulk;
pub mod destination;
pub mod filter;
pub mod inject;
pub mod message;
pub mod reload;
pub mod shape;
pub mod status;
pub mod summary;
pub mod time;

pub use action::{Action, ActionResult, FlushResult};
pub use bulk::{BulkRequest, BulkResult, BulkSkipped, MAX_BULK_IDS};
pub use destination::{
    DestinationList, DestinationView, ResumeResult, SuspendRequest, SuspensionView,
};
pub use envoi_queue::{MessageState, StateCounts};
pub use envoi_types::RecipientState;
pub use filter::{MessageFilter, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};
pub use inject::{InjectRequest, InjectResponse};
pub use message::{
    AttemptReplyView, AttemptView, MessagePage, MessageView, RecipientView, ReplyView,
};
pub use reload::{ReloadReport, Reloader};
pub use shape::{Shape, ShapeBy, ShapeQuery, ShapeRow, AGE_COLUMNS_MINUTES};
pub use status::{ErrorBody, Health, QuarantineEntry, QuarantineList};
pub use summary::{DomainCount, Summary};
