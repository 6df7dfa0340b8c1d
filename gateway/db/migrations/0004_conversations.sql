-- Seed schema, part 4: conversations, with the messages embedded as a JSONB array. The
-- gateway appends the user turn and the assistant reply here when a request names a
-- conversation (X-Conversation-Id). Conventions: see 0001.
--
-- Reconstructed columns. The reference's column list omits three columns that its own
-- indexes use (idx_conversations_user_updated, _focus_area, _task, ...). They are restored
-- where the upstream migrations put them, so every listed column keeps its relative order:
-- * user_id TEXT, nullable, between refreshed_at and team_id. TEXT like every other legacy
--   user_id in the reference (spaces, arena_battles, model_rankings); the UUID form lives in
--   user_uuid, as on those tables. Nullable because the upstream migration declares it so
--   ("user_id TEXT") and the reference shows no later NOT NULL; the gateway always fills it.
--   The comment is the one every sibling legacy user_id with a user_uuid twin carries.
-- * focus_area_id TEXT and task_id TEXT, nullable (their indexes filter on IS NOT NULL),
--   right after space_id: the three were added together. TEXT because focus_areas.id and
--   tasks.id are TEXT. No foreign keys: focus_areas and tasks are not part of this schema.
-- No foreign key for space_id either: the reference lists none, and for system spaces the
-- value is the slug ("work", "research", ...), not a spaces.id.
-- id is TEXT (the application's ids), unlike routing_decisions.conversation_id (UUID);
-- both are kept exactly as the reference has them.

CREATE TABLE conversations (
    id TEXT PRIMARY KEY,
    -- Reconstructed default: the reference shows "'New" (its generator cuts defaults at
    -- whitespace); the upstream migration declares 'New Chat'.
    title TEXT NOT NULL DEFAULT 'New Chat',
    model TEXT NOT NULL DEFAULT 'claude-sonnet-4-20250514',
    messages JSONB NOT NULL DEFAULT '[]'::jsonb,
    pinned BOOLEAN NOT NULL DEFAULT FALSE,
    continued_from_id TEXT REFERENCES conversations (id) ON DELETE SET NULL,
    continuation_summary TEXT,
    refreshed_at TIMESTAMPTZ,
    user_id TEXT,
    team_id TEXT,
    tags TEXT[] DEFAULT '{}',
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    space_id TEXT,
    focus_area_id TEXT,
    task_id TEXT,
    last_viewed_at TIMESTAMPTZ,
    user_uuid UUID
);

-- Listed twice in the reference: partial (WHERE deleted_at IS NULL) from the first
-- migration, plain from a later one that recreated it. The later definition wins.
CREATE INDEX idx_conversations_user_updated ON conversations (user_id, updated_at);
CREATE INDEX idx_conversations_pinned ON conversations (user_id, pinned, updated_at)
    WHERE deleted_at IS NULL AND pinned = TRUE;
CREATE INDEX idx_conversations_team ON conversations (team_id, updated_at) WHERE deleted_at IS NULL;
-- GIN (the reference cannot print the access method; the name says it). jsonb_path_ops as
-- upstream declares: smaller and faster for the containment (@>) searches it exists for.
CREATE INDEX idx_conversations_messages_gin ON conversations USING gin (messages jsonb_path_ops);
CREATE INDEX idx_conversations_continued_from ON conversations (continued_from_id)
    WHERE continued_from_id IS NOT NULL;
-- Listed twice in the reference with identical definitions.
CREATE INDEX idx_conversations_space_id ON conversations (user_id, space_id, updated_at)
    WHERE deleted_at IS NULL AND space_id IS NOT NULL;
CREATE INDEX idx_conversations_focus_area ON conversations (user_id, focus_area_id, updated_at)
    WHERE deleted_at IS NULL AND focus_area_id IS NOT NULL;
CREATE INDEX idx_conversations_task ON conversations (user_id, task_id, updated_at)
    WHERE deleted_at IS NULL AND task_id IS NOT NULL;
-- GIN: array containment on tags (default array opclass).
CREATE INDEX idx_conversations_tags ON conversations USING gin (tags) WHERE deleted_at IS NULL;
CREATE INDEX idx_conversations_last_viewed ON conversations (user_id, last_viewed_at)
    WHERE deleted_at IS NULL;
CREATE INDEX idx_conversations_space_last_viewed ON conversations (user_id, space_id, last_viewed_at)
    WHERE deleted_at IS NULL AND space_id IS NOT NULL;

COMMENT ON TABLE conversations IS 'Chat conversations with embedded JSONB messages. Supports soft deletes and multi-tenant access patterns.';
COMMENT ON COLUMN conversations.messages IS 'Array of message objects: [{id, role, content, timestamp, thinking?, attachments?, sources?}]';
COMMENT ON COLUMN conversations.user_id IS 'UUID reference to users table';
COMMENT ON COLUMN conversations.space_id IS 'Foreign key to spaces table. For system spaces, equals the slug (work, research, random, personal). For custom spaces, is the UUID.';
COMMENT ON COLUMN conversations.last_viewed_at IS 'Timestamp when user last opened/viewed this conversation. Used for Recent Conversations sorting.';
