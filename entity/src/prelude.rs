pub use super::agents::Entity as Agents;
pub use super::api_tokens::Entity as ApiTokens;
pub use super::audit_events::Entity as AuditEvents;
pub use super::messages::Entity as Messages;
pub use super::read_cursors::Entity as ReadCursors;
pub use super::room_members::Entity as RoomMembers;
pub use super::rooms::Entity as Rooms;
