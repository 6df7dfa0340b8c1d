-- The gateway serves the Model Arena (issue 13). The seed tables (0009) hold battles, their
-- models and per-user rankings; these columns are what the gateway needs beyond them. Why each:
-- * arena_battles.organization_id: the organization-wide ranking (a Bradley-Terry fit over all
--   of an organization's votes) must find the organization's battles without joining users
--   through memberships, and a user who changes organization must not carry votes along.
--   Nullable: rows written by the main application may not have it.
-- * arena_battles.messages: the whole conversation the models answered (prompt holds only the
--   last user turn, as the main application shows it); a judge needs the whole context.
-- * arena_battles.vote: the owner's one vote ({winner, winnerModelId, outcome, votedAt}), null
--   until cast. The seed's upstream has a user_vote column that the reference does not show;
--   "once per battle" is this column being null under the row lock.
-- * arena_battles.judgments: AI verdicts, one object per judgment
--   ({id, judgeModel, winner, winnerModelId, reason, order, requestId, createdAt}).
ALTER TABLE arena_battles
    ADD COLUMN organization_id UUID,
    ADD COLUMN messages JSONB NOT NULL DEFAULT '[]'::jsonb,
    ADD COLUMN vote JSONB,
    ADD COLUMN judgments JSONB NOT NULL DEFAULT '[]'::jsonb;

COMMENT ON COLUMN arena_battles.vote IS 'The owner''s vote: {winner, winnerModelId, outcome, votedAt}; null until cast';
COMMENT ON COLUMN arena_battles.judgments IS 'AI verdicts: [{id, judgeModel, winner, winnerModelId, reason, order, requestId, createdAt}]';

-- The organization ranking reads every voted battle of one organization.
CREATE INDEX idx_arena_battles_org_votes ON arena_battles (organization_id, created_at)
    WHERE vote IS NOT NULL;
