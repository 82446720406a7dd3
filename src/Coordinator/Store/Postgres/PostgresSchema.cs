using Npgsql;

namespace NodeFleet.Coordinator.Store.Postgres;

/// <summary>
/// The tables of the PostgreSQL store and the migrations between their versions. A coordinator applies what is missing
/// when it starts, in one transaction under an advisory lock, so that coordinators starting together migrate once and
/// none sees a half-made schema; a database migrated by a newer coordinator is refused, changing nothing.
/// </summary>
public static class PostgresSchema
{
    /// <summary>The schema version this coordinator writes: the number of migrations it knows.</summary>
    public static int Version => Migrations.Length;

    /// <summary>The key of the advisory lock that serialises migrations (per database): "nodefleet" in ASCII.</summary>
    private const long LockKey = 0x6e6f6465666c6565;

    /// <summary>
    /// A rollout node's cluster work is under way (<see cref="Rollouts.KubeSteps.Unfinished"/>), for the rollout_nodes row
    /// named <paramref name="alias"/>: the predicate of the partial index rollout_nodes_kube_unfinished (migration 11),
    /// which a query must state as written there for PostgreSQL to use the index.
    /// </summary>
    internal static string KubeStepUnfinished(string alias) => $"coalesce({alias}.doc->>'KubeStep', '') NOT IN ('', 'done')";

    // Keys and names sort by code point (COLLATE "C"), as LiteDB and the rest of the coordinator compare them. A
    // rollout node's doc is json, not jsonb: it reads back as the very text written.
    private static readonly string[] Migrations =
    [
        // 1: the first tables: tokens, nodes, plans, runs, the cluster record, rollouts, events, leases.
        """
        CREATE TABLE tokens (
            id text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL,
            created_at timestamptz NOT NULL, expires_at timestamptz);
        CREATE INDEX tokens_created_at ON tokens (created_at, id);
        CREATE INDEX tokens_expires_at ON tokens (expires_at) WHERE expires_at IS NOT NULL;

        CREATE TABLE nodes (
            id text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL,
            status integer NOT NULL, phase text NOT NULL, last_report_sequence bigint NOT NULL,
            report_epoch text NOT NULL DEFAULT '', last_seen timestamptz, labels jsonb NOT NULL);
        CREATE INDEX nodes_status_phase ON nodes (status, phase);
        CREATE INDEX nodes_labels ON nodes USING gin (labels);

        CREATE TABLE plans (id text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL);

        CREATE TABLE runs (
            id text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL,
            node text COLLATE "C" NOT NULL, started_at timestamptz NOT NULL);
        CREATE INDEX runs_node_started ON runs (node, started_at DESC, id DESC);

        CREATE TABLE cluster (id text PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL);

        CREATE TABLE rollouts (
            id text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL, state text NOT NULL);
        CREATE INDEX rollouts_state ON rollouts (state);
        CREATE TABLE rollout_nodes (
            rollout_id text COLLATE "C" NOT NULL REFERENCES rollouts (id) ON DELETE CASCADE,
            name text COLLATE "C" NOT NULL, ord integer NOT NULL, doc json NOT NULL,
            PRIMARY KEY (rollout_id, name));
        CREATE INDEX rollout_nodes_name ON rollout_nodes (name);

        CREATE TABLE events (
            xact bigint NOT NULL DEFAULT pg_current_xact_id()::text::bigint,
            seq bigint GENERATED ALWAYS AS IDENTITY,
            time timestamptz NOT NULL, type text NOT NULL, reason text NOT NULL,
            node text COLLATE "C" NOT NULL, rollout text COLLATE "C" NOT NULL, message text NOT NULL,
            PRIMARY KEY (xact, seq));
        CREATE INDEX events_node ON events (node, xact, seq);
        CREATE INDEX events_rollout ON events (rollout, xact, seq);

        CREATE TABLE leases (
            name text COLLATE "C" PRIMARY KEY, holder text NOT NULL, token bigint NOT NULL, expires_at timestamptz NOT NULL);
        """,
        // 2: Kubernetes clusters (`nodefleet cluster add`); the doc holds the kubeconfig.
        """
        CREATE TABLE kube_clusters (id text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL);
        """,
        // 3: retention deletes events by age.
        """
        CREATE INDEX events_time ON events (time);
        """,
        // 4: the certificate deny list (`nodefleet node revoke`), checked at every handshake.
        """
        CREATE TABLE revoked_certificates (
            serial text COLLATE "C" PRIMARY KEY, subject text NOT NULL, role text NOT NULL,
            revoked_at timestamptz NOT NULL, not_after timestamptz NOT NULL, reason text NOT NULL);
        CREATE INDEX revoked_certificates_not_after ON revoked_certificates (not_after);
        """,
        // 5: who made each change (events.actor; '' for older events) and the operator certificates (`nodefleet admin`).
        """
        ALTER TABLE events ADD COLUMN actor text NOT NULL DEFAULT '';
        CREATE TABLE operator_certificates (
            serial text COLLATE "C" PRIMARY KEY, name text COLLATE "C" NOT NULL, role text NOT NULL,
            issued_at timestamptz NOT NULL, expires_at timestamptz NOT NULL, revoked_at timestamptz,
            issued_by text NOT NULL);
        CREATE INDEX operator_certificates_name ON operator_certificates (name);
        """,
        // 6: several coordinators: each one's heartbeat row (`nodefleet coordinators`), and the rollout reports that
        // reached one without the singleton lease, queued for the holder's rollout controller.
        """
        CREATE TABLE coordinators (
            id text COLLATE "C" PRIMARY KEY, address text NOT NULL, version text NOT NULL, connected_agents integer NOT NULL,
            lease_held boolean NOT NULL, started_at timestamptz NOT NULL, last_seen timestamptz NOT NULL);
        CREATE TABLE rollout_reports (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, node text COLLATE "C" NOT NULL,
            rollout_id text COLLATE "C" NOT NULL, report bytea NOT NULL, queued_at timestamptz NOT NULL);
        """,
        // 7: messages to nodes (and replies to coordinators) until delivered; whoever holds the node's stream delivers.
        """
        CREATE TABLE outbox (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, recipient text COLLATE "C" NOT NULL,
            payload bytea NOT NULL, created_at timestamptz NOT NULL);
        CREATE INDEX outbox_recipient ON outbox (recipient, id);
        CREATE INDEX outbox_created_at ON outbox (created_at);
        """,
        // 8: maintenance windows for rollouts (`nodefleet window set`).
        """
        CREATE TABLE windows (id text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL);
        """,
        // 9: the fleet's certificate authorities, so that every coordinator on the database serves the same fleet and a
        // rotation is seen by all (`init --join-store`, `nodefleet ca rotate`).
        """
        CREATE TABLE certificate_authorities (
            id text COLLATE "C" PRIMARY KEY, revision bigint NOT NULL, doc jsonb NOT NULL, generation integer NOT NULL UNIQUE);
        """,
        // 10: the CA generation that issued each operator certificate (`ca rotate finish` checks operators too); 0: 1.
        """
        ALTER TABLE operator_certificates ADD COLUMN ca_generation integer NOT NULL DEFAULT 0;
        """,
        // 11: the nodes of rollouts whose cluster work is under way (a Kubernetes step neither "" nor done), so that a
        // new lease holder finds the rollouts over with nodes still to put back into service without reading them all.
        """
        CREATE INDEX rollout_nodes_kube_unfinished ON rollout_nodes ((doc->>'KubeStep'))
            WHERE coalesce(doc->>'KubeStep', '') NOT IN ('', 'done');
        """,
        // 12: a run's steps as rows of their own, so that a step's report writes that step, not the run's whole list
        // (the run's document was parsed, compressed and rewritten for every report). The steps stored move out.
        """
        CREATE TABLE run_steps (
            run_id text COLLATE "C" NOT NULL REFERENCES runs (id) ON DELETE CASCADE, ord integer NOT NULL,
            doc json NOT NULL, PRIMARY KEY (run_id, ord));
        INSERT INTO run_steps (run_id, ord, doc)
            SELECT r.id, s.ord - 1, s.step::text::json
            FROM runs r, jsonb_array_elements(r.doc->'Steps') WITH ORDINALITY AS s(step, ord)
            WHERE jsonb_typeof(r.doc->'Steps') = 'array';
        UPDATE runs SET doc = doc - 'Steps' WHERE doc ? 'Steps';
        """,
    ];

    /// <summary>Brings the database to <see cref="Version"/>; returns the version it found.</summary>
    /// <exception cref="InvalidDataException">The schema is newer than this coordinator's.</exception>
    internal static async Task<int> MigrateAsync(NpgsqlDataSource source, string where, CancellationToken ct)
    {
        await using var conn = await source.OpenConnectionAsync(ct).ConfigureAwait(false);
        await using var tx = await conn.BeginTransactionAsync(ct).ConfigureAwait(false);
        async Task Run(string sql)
        {
            await using var cmd = new NpgsqlCommand(sql, conn, tx);
            await cmd.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
        }
        // Held until commit: a second coordinator starting now waits here, then finds the schema made.
        await Run($"SELECT pg_advisory_xact_lock({LockKey})").ConfigureAwait(false);
        await Run("""
            CREATE TABLE IF NOT EXISTS nodefleet_schema (
                id integer PRIMARY KEY CHECK (id = 1), version integer NOT NULL, migrated_at timestamptz NOT NULL)
            """).ConfigureAwait(false);
        await using (var read = new NpgsqlCommand("SELECT version FROM nodefleet_schema WHERE id = 1", conn, tx))
        {
            var found = await read.ExecuteScalarAsync(ct).ConfigureAwait(false) is int v ? v : 0;
            if (found > Version)
                throw new InvalidDataException(
                    $"the database {where} holds store schema version {found}, written by a newer coordinator; this one " +
                    $"knows up to version {Version}: nothing was changed; run the newer version");
            if (found == Version) return found;
            for (var version = found + 1; version <= Version; version++) await Run(Migrations[version - 1]).ConfigureAwait(false);
            await using var write = new NpgsqlCommand(
                "INSERT INTO nodefleet_schema (id, version, migrated_at) VALUES (1, @v, now()) " +
                "ON CONFLICT (id) DO UPDATE SET version = EXCLUDED.version, migrated_at = EXCLUDED.migrated_at", conn, tx);
            write.With("v", Version);
            await write.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            await tx.CommitAsync(ct).ConfigureAwait(false);
            return found;
        }
    }
}
