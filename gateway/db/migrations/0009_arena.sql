-- Seed schema, part 9: Model Arena (side-by-side battles between models, and per-user Elo
-- rankings). The gateway does not write these; they exist so the shared database matches the
-- seed schema the main application expects. Conventions: see 0001.
--
-- Reconstructed columns (used by the reference's own indexes, missing from its lists),
-- placed where the upstream migration declares them:
-- * arena_battles.team_id TEXT, nullable (idx_arena_battles_team filters team_id IS NOT
--   NULL), right after user_id; TEXT like conversations.team_id.
-- * model_rankings.elo_rating NUMERIC(10,2) NOT NULL DEFAULT 1500.00, between ties and
--   total_battles, as upstream declares it (Elo updates are fractional; 1500 is the
--   conventional start). Its "(10, 2)" type is also why the reference's generator, which
--   cuts at commas, lost the whole column.
-- Not reconstructed: upstream also has arena_battles.title/user_vote/ai_judgment and
-- model_rankings.avg_score, but nothing in the reference evidences them, so they are left
-- to the application that owns the arena.
-- user_id on both tables is the legacy TEXT id (no FK), user_uuid its UUID twin, as listed.

CREATE TABLE arena_battles (
    id TEXT PRIMARY KEY,
    prompt TEXT NOT NULL,
    models JSONB NOT NULL DEFAULT '[]'::jsonb,
    responses JSONB NOT NULL DEFAULT '[]'::jsonb,
    settings JSONB NOT NULL DEFAULT '{}'::jsonb,
    status TEXT NOT NULL DEFAULT 'pending',
    pinned BOOLEAN NOT NULL DEFAULT FALSE,
    user_id TEXT NOT NULL,
    team_id TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    deleted_at TIMESTAMPTZ,
    user_uuid UUID
);

-- Listed twice in the reference: partial first, plain later; the later definition wins.
CREATE INDEX idx_arena_battles_user_created ON arena_battles (user_id, created_at);
CREATE INDEX idx_arena_battles_status ON arena_battles (user_id, status) WHERE deleted_at IS NULL;
CREATE INDEX idx_arena_battles_team ON arena_battles (team_id, created_at)
    WHERE deleted_at IS NULL AND team_id IS NOT NULL;
CREATE INDEX idx_arena_battles_pinned ON arena_battles (user_id, pinned, created_at)
    WHERE deleted_at IS NULL;
-- GIN with jsonb_path_ops, as upstream declares (containment search over responses).
CREATE INDEX idx_arena_battles_responses_gin ON arena_battles USING gin (responses jsonb_path_ops);

COMMENT ON TABLE arena_battles IS 'Model Arena battles with full response content and judgments';
COMMENT ON COLUMN arena_battles.models IS 'Array of participating models: [{id, displayName, provider}]';
COMMENT ON COLUMN arena_battles.responses IS 'Full response content: [{id, modelId, content, thinking?, metrics?, sources?, error?, startedAt, completedAt, durationMs}]';
COMMENT ON COLUMN arena_battles.settings IS 'Battle configuration: {webSearchEnabled, extendedThinkingEnabled, thinkingBudgetTokens, temperature, reasoningEffort, blindMode}';
COMMENT ON COLUMN arena_battles.user_id IS 'UUID reference to users table';

CREATE TABLE arena_battle_models (
    battle_id TEXT NOT NULL REFERENCES arena_battles (id) ON DELETE CASCADE,
    model_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    -- Composite primary key (reconstructed): a junction table with no id column whose only
    -- listed index is on model_id; battle-to-model lookups need a key leading with
    -- battle_id. Upstream declares PRIMARY KEY (battle_id, model_id).
    PRIMARY KEY (battle_id, model_id)
);

CREATE INDEX idx_battle_models_model ON arena_battle_models (model_id);

COMMENT ON TABLE arena_battle_models IS 'Junction table for efficient model-to-battle lookups';

CREATE TABLE model_rankings (
    user_id TEXT NOT NULL,
    model_id TEXT NOT NULL,
    wins INTEGER NOT NULL DEFAULT 0,
    losses INTEGER NOT NULL DEFAULT 0,
    ties INTEGER NOT NULL DEFAULT 0,
    elo_rating NUMERIC(10,2) NOT NULL DEFAULT 1500.00,
    total_battles INTEGER NOT NULL DEFAULT 0,
    user_wins INTEGER NOT NULL DEFAULT 0,
    user_losses INTEGER NOT NULL DEFAULT 0,
    ai_wins INTEGER NOT NULL DEFAULT 0,
    ai_losses INTEGER NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
    user_uuid UUID,
    -- Composite primary key: stated by the reference itself (user_id "part of composite PK").
    PRIMARY KEY (user_id, model_id)
);

-- Listed twice in the reference with identical definitions.
CREATE INDEX idx_model_rankings_elo ON model_rankings (user_id, elo_rating);

COMMENT ON TABLE model_rankings IS 'Per-user model performance rankings with Elo ratings';
COMMENT ON COLUMN model_rankings.user_id IS 'UUID reference to users table (part of composite PK)';
COMMENT ON COLUMN model_rankings.elo_rating IS 'Elo-style rating starting at 1500, K-factor 32 for updates';
