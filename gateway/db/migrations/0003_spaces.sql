-- Seed schema, part 3: spaces (a user's or an organization's workspace that conversations
-- belong to). Conventions: see 0001.
--
-- No foreign keys: the reference lists none for spaces. user_id is a legacy TEXT id (see
-- its comment) and organization_id is an unenforced UUID, both exactly as the reference.

CREATE TABLE spaces (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    slug TEXT NOT NULL,
    context_document_ids TEXT[] DEFAULT '{}',
    order_index INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    user_uuid UUID,
    space_type TEXT DEFAULT 'personal',
    organization_id UUID
);

CREATE UNIQUE INDEX idx_spaces_user_slug ON spaces (user_id, slug) WHERE deleted_at IS NULL;
-- idx_spaces_user and idx_spaces_order are each listed twice in the reference, first partial
-- (WHERE deleted_at IS NULL), then plain. An index name exists once; the later listing comes
-- from the later migration (which recreated them without the predicate), so the plain
-- definitions win. Upstream's current schema has the plain ones too.
CREATE INDEX idx_spaces_user ON spaces (user_id);
CREATE INDEX idx_spaces_order ON spaces (user_id, order_index);

COMMENT ON COLUMN spaces.user_id IS 'UUID reference to users table';
COMMENT ON COLUMN spaces.space_type IS 'personal=single owner, organization=org-wide, project=team project';
