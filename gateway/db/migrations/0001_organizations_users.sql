-- Seed schema, part 1: the tenant root (organizations), its users, the legacy TEXT->UUID
-- user id map and org memberships. Everything else references these, so they come first.
--
-- Source of truth: /work/shared/seed/schema-reference.md (generated from the upstream
-- application's migrations, lossy). Where it is lossy, the reconstruction is stated at the
-- spot and mirrored in tests/db/test_schema_matches_seed.py (RECONSTRUCTIONS), which fails
-- if this schema and the reference drift apart.
--
-- Conventions for all seed migrations (0001-0009):
-- * The reference never lists primary keys; every `id` it shows as "Nullable YES" with no
--   other unique index is the primary key (a PK makes the column NOT NULL, which is the
--   one nullability difference from the reference). Composite/natural keys are stated.
-- * The reference never lists UNIQUE or CHECK constraints. UNIQUE constraints that the
--   upstream migration creating the table declares are kept, because they carry identity
--   the gateway relies on (bootstrap is idempotent: one org per slug, one user per email
--   per org, one membership per user per org). CHECK constraints are not reproduced: the
--   upstream ones fix value vocabularies (e.g. org roles owner/admin/member) that the
--   gateway contract extends (role `finance`); vocabularies are validated by the service.
-- * gen_random_uuid() is core since PostgreSQL 13, so no pgcrypto extension is needed.
-- * No updated_at triggers: the reference documents none; writers set updated_at.

CREATE TABLE organizations (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    name TEXT NOT NULL,
    -- UNIQUE: reconstructed from the upstream migration that created the table
    -- ("slug TEXT NOT NULL UNIQUE"); the reference prints no constraints.
    slug TEXT NOT NULL CONSTRAINT organizations_slug_key UNIQUE,
    settings JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    system_prompt TEXT,
    -- Reconstructed default: the reference shows it cut at a comma ("ARRAY['basic'"),
    -- which proves the array had further elements, so ARRAY['basic']::TEXT[] would be
    -- wrong. The upstream migration adding the column declares all three tiers named in
    -- the column's description: ARRAY['basic', 'standard', 'premium'].
    allowed_tiers TEXT[] DEFAULT ARRAY['basic', 'standard', 'premium'],
    -- Reconstructed type: the reference shows "DECIMAL(10" (cut at the comma); the upstream
    -- migration declares DECIMAL(10,2), i.e. USD with cents.
    monthly_budget DECIMAL(10,2),
    budget_alert_threshold INTEGER DEFAULT 80,
    budget_hard_limit BOOLEAN DEFAULT false,
    model_tier_assignments JSONB DEFAULT '{}'
);

CREATE INDEX idx_organizations_slug ON organizations (slug) WHERE deleted_at IS NULL;

COMMENT ON TABLE organizations IS 'Multi-tenant root entity. All data is scoped to an organization.';
COMMENT ON COLUMN organizations.system_prompt IS 'Organization-wide AI context/instructions included in all conversations for this org';
COMMENT ON COLUMN organizations.allowed_tiers IS 'Model tiers enabled for this organization (basic, standard, premium)';
COMMENT ON COLUMN organizations.monthly_budget IS 'Monthly spending limit in USD, NULL means no limit';
COMMENT ON COLUMN organizations.budget_alert_threshold IS 'Percentage threshold for budget alerts (default 80%)';
COMMENT ON COLUMN organizations.budget_hard_limit IS 'If true, block requests when budget is exceeded';
COMMENT ON COLUMN organizations.model_tier_assignments IS 'Per-model tier assignments. Keys are model IDs, values are tier names (basic/standard/premium) or null (disabled)';

CREATE TABLE users (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id),
    email TEXT NOT NULL,
    username TEXT NOT NULL,
    display_name TEXT,
    password_hash TEXT,
    status TEXT DEFAULT 'active',
    last_login_at TIMESTAMPTZ,
    settings JSONB DEFAULT '{}',
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    preferences JSONB DEFAULT '{}'::jsonb,
    first_name VARCHAR(100),
    last_name VARCHAR(100),
    -- UNIQUE pairs: reconstructed from the upstream migration that created the table.
    CONSTRAINT users_organization_id_email_key UNIQUE (organization_id, email),
    CONSTRAINT users_organization_id_username_key UNIQUE (organization_id, username)
);

CREATE INDEX idx_users_org ON users (organization_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_email ON users (email) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_username ON users (username) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_first_name ON users (first_name);
CREATE INDEX idx_users_last_name ON users (last_name);

COMMENT ON TABLE users IS 'User accounts within an organization';
COMMENT ON COLUMN users.preferences IS 'User preferences as JSON. Includes homePage settings, etc.';

CREATE TABLE user_id_mappings (
    -- Primary key: the table maps each legacy id to exactly one UUID, and the reference
    -- shows legacy_id "Nullable YES" with no index of its own, which only a PK explains.
    legacy_id TEXT PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_user_id_mappings_user ON user_id_mappings (user_id);

COMMENT ON TABLE user_id_mappings IS 'Backward compatibility: maps legacy TEXT user_ids to UUID user_ids';

CREATE TABLE org_memberships (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role TEXT DEFAULT 'member',
    created_at TIMESTAMPTZ DEFAULT NOW(),
    updated_at TIMESTAMPTZ DEFAULT NOW(),
    -- UNIQUE: reconstructed from the upstream migration (one membership per user per org).
    CONSTRAINT org_memberships_organization_id_user_id_key UNIQUE (organization_id, user_id)
);

CREATE INDEX idx_org_memberships_user ON org_memberships (user_id);
CREATE INDEX idx_org_memberships_org ON org_memberships (organization_id);
CREATE INDEX idx_org_memberships_owner ON org_memberships (organization_id) WHERE role = 'owner';

COMMENT ON TABLE org_memberships IS 'User roles within an organization';
