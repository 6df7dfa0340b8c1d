-- Seed schema, part 2: groups (teams/departments inside an organization, each with its own
-- tier allow-list and system prompt) and their members. Conventions: see 0001.

CREATE TABLE groups (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    description TEXT,
    system_prompt TEXT,
    litellm_team_id TEXT,
    -- NULL means "inherit the organization's tiers" (no default, as in the reference).
    allowed_tiers TEXT[],
    settings JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    -- UNIQUE: reconstructed from the upstream schema (group names are unique per org).
    CONSTRAINT groups_organization_id_name_key UNIQUE (organization_id, name)
);

CREATE INDEX idx_groups_org ON groups (organization_id);

CREATE TABLE group_memberships (
    group_id UUID NOT NULL REFERENCES groups (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT DEFAULT 'member',
    joined_at TIMESTAMPTZ DEFAULT NOW(),
    -- Composite primary key (reconstructed): the table has no id column, and the only index
    -- the reference lists is on user_id, so lookups by group must be served by a key that
    -- leads with group_id; upstream declares PRIMARY KEY (group_id, user_id).
    PRIMARY KEY (group_id, user_id)
);

CREATE INDEX idx_group_memberships_user ON group_memberships (user_id);
