"""Tables of the workspace database, as ordered migrations.

Every migration runs once, in a transaction, and is recorded in
``schema_migrations``. Add a new migration at the end; never edit a released one.

Money is ``DECIMAL(18, 4)``: sums are exact, so the same purchases give the same
monetary value (and the same M score at a tied cut point) on every engine.
Times are ``TIMESTAMP`` holding UTC instants (SPEC §1).
"""

from __future__ import annotations

from clm.store import summaries

MIGRATIONS: list[tuple[int, str]] = [
    (
        1,
        """
        CREATE TABLE profiles (
            customer_id VARCHAR NOT NULL,
            email VARCHAR,
            phone VARCHAR,
            signup_at TIMESTAMP,
            timezone VARCHAR,
            attributes JSON,
            import_id INTEGER,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE consents (
            customer_id VARCHAR NOT NULL,
            channel VARCHAR NOT NULL,
            granted BOOLEAN NOT NULL,
            ts TIMESTAMP NOT NULL,
            source VARCHAR NOT NULL
        );
        CREATE TABLE events (
            event_id VARCHAR NOT NULL,
            customer_id VARCHAR,
            anonymous_id VARCHAR,
            type VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            category VARCHAR,
            amount DECIMAL(18, 4),
            order_id VARCHAR,
            properties JSON,
            import_id INTEGER
        );
        CREATE TABLE identities (
            anonymous_id VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            linked_at TIMESTAMP  -- NULL: a link without a time (from a customer import)
        );
        CREATE TABLE imports (
            import_id INTEGER NOT NULL,
            kind VARCHAR NOT NULL,
            source VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP NOT NULL,
            rows_read BIGINT NOT NULL,
            filtered BIGINT NOT NULL,
            imported BIGINT NOT NULL,
            duplicates BIGINT NOT NULL,
            quarantined BIGINT NOT NULL
        );
        CREATE TABLE scoring_runs (
            run_id INTEGER NOT NULL,
            as_of DATE NOT NULL,
            window_days INTEGER NOT NULL,
            engine VARCHAR NOT NULL,
            started_at TIMESTAMP NOT NULL,
            finished_at TIMESTAMP NOT NULL,
            n_profiles BIGINT NOT NULL,
            n_buyers BIGINT NOT NULL,
            calibration_version INTEGER NOT NULL
        );
        CREATE TABLE calibrations (
            version INTEGER NOT NULL,
            run_id INTEGER NOT NULL,
            as_of DATE NOT NULL,
            window_days INTEGER NOT NULL,
            created_at TIMESTAMP NOT NULL,
            payload JSON NOT NULL
        );
        CREATE TABLE scores (
            run_id INTEGER NOT NULL,
            as_of DATE NOT NULL,
            customer_id VARCHAR,
            anonymous_id VARCHAR,
            recency_days INTEGER,
            frequency BIGINT NOT NULL,
            monetary DOUBLE NOT NULL,
            n_orders_life BIGINT NOT NULL,
            r_score TINYINT,
            f_score TINYINT,
            m_score TINYINT,
            has_email BOOLEAN NOT NULL,
            visited BOOLEAN NOT NULL,
            segment VARCHAR NOT NULL,
            phase VARCHAR,
            previous_segment VARCHAR,
            segment_since DATE NOT NULL
        );
        """,
    ),
    (
        2,
        """
        CREATE TABLE activity (
            run_id INTEGER NOT NULL,
            customer_id VARCHAR,
            anonymous_id VARCHAR,
            scope VARCHAR NOT NULL,
            s_short DOUBLE NOT NULL,
            s_long DOUBLE NOT NULL,
            v_short DOUBLE NOT NULL,
            v_long DOUBLE NOT NULL,
            activity DOUBLE NOT NULL,
            trend DOUBLE NOT NULL,
            affinity DOUBLE,
            rising BOOLEAN NOT NULL
        );
        CREATE TABLE category_relations (
            run_id INTEGER NOT NULL,
            a VARCHAR NOT NULL,
            b VARCHAR NOT NULL,
            n_a BIGINT NOT NULL,
            n_b BIGINT NOT NULL,
            n_ab BIGINT NOT NULL,
            lift DOUBLE,
            correlation DOUBLE
        );
        CREATE TABLE next_best (
            run_id INTEGER NOT NULL,
            customer_id VARCHAR,
            anonymous_id VARCHAR,
            rank INTEGER NOT NULL,
            category VARCHAR NOT NULL,
            score DOUBLE NOT NULL
        );
        """,
    ),
    (
        3,
        """
        CREATE TABLE clv (
            run_id INTEGER NOT NULL,
            customer_id VARCHAR,
            anonymous_id VARCHAR,
            x INTEGER NOT NULL,
            t_x_days INTEGER NOT NULL,
            t_days INTEGER NOT NULL,
            mean_spend DOUBLE,
            p_alive DOUBLE NOT NULL,
            expected_purchases DOUBLE NOT NULL,
            expected_spend DOUBLE,
            clv DOUBLE,
            churn_risk DOUBLE NOT NULL
        );
        CREATE TABLE clv_fits (
            fit_id INTEGER PRIMARY KEY,
            fitted_at TIMESTAMP NOT NULL,
            calibration_end DATE NOT NULL,
            time_unit VARCHAR NOT NULL,
            payload JSON NOT NULL
        );
        """,
    ),
    (
        4,
        """
        -- The real-time server (clm serve): how far its journal is written to this database.
        CREATE TABLE journal_checkpoint (
            segment BIGINT NOT NULL,
            "offset" BIGINT NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        5,
        """
        CREATE TABLE outbox (
            message_id VARCHAR PRIMARY KEY,
            automation VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            enrolment_id VARCHAR NOT NULL,
            step_id VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            channel VARCHAR NOT NULL,
            variant VARCHAR,
            content JSON NOT NULL,
            status VARCHAR NOT NULL,  -- queued sending sent retrying failed unknown
            attempts INTEGER NOT NULL,
            next_attempt_at TIMESTAMP NOT NULL,
            not_before TIMESTAMP NOT NULL,
            created_at TIMESTAMP NOT NULL,
            sent_at TIMESTAMP,
            last_error VARCHAR,
            provider_id VARCHAR,
            cost DOUBLE NOT NULL
        );
        CREATE TABLE banner_impressions (
            message_id VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            placement VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL
        );
        """,
    ),
    (
        6,
        """
        -- automations (branch automation): versions, stored status, the run clock,
        -- enrolments, every decision, and the hysteresis state of score crossings
        CREATE TABLE automation_versions (
            automation VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            content_hash VARCHAR NOT NULL,
            path VARCHAR NOT NULL,
            definition JSON NOT NULL,
            created_at TIMESTAMP NOT NULL,
            PRIMARY KEY (automation, version)
        );
        CREATE TABLE automation_states (
            automation VARCHAR PRIMARY KEY,
            status VARCHAR NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE automation_clock (
            clock VARCHAR PRIMARY KEY,
            processed_until TIMESTAMP NOT NULL,
            updated_at TIMESTAMP NOT NULL
        );
        CREATE TABLE enrolments (
            enrolment_id VARCHAR PRIMARY KEY,
            automation VARCHAR NOT NULL,
            version INTEGER NOT NULL,
            customer_id VARCHAR NOT NULL,
            occurrence VARCHAR NOT NULL,
            arm VARCHAR NOT NULL,
            enrolled_at TIMESTAMP NOT NULL,
            state VARCHAR NOT NULL,
            step_id VARCHAR,
            due_at TIMESTAMP,
            wait_since TIMESTAMP,
            goal_until TIMESTAMP,
            converted_at TIMESTAMP,
            ended_at TIMESTAMP,
            variant VARCHAR  -- the assigned variant of the first send step with variants
        );
        CREATE TABLE decisions (
            decision_id VARCHAR PRIMARY KEY,
            ts TIMESTAMP NOT NULL,
            automation VARCHAR NOT NULL,
            version INTEGER,
            enrolment_id VARCHAR,
            customer_id VARCHAR NOT NULL,
            step_id VARCHAR,
            kind VARCHAR NOT NULL,
            reason VARCHAR,
            channel VARCHAR,
            message_id VARCHAR,
            variant VARCHAR,
            cost DOUBLE,
            not_before TIMESTAMP,
            detail VARCHAR,
            recorded_at TIMESTAMP NOT NULL
        );
        CREATE TABLE crossing_states (
            automation VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            scope VARCHAR NOT NULL,
            armed BOOLEAN NOT NULL,
            value DOUBLE,
            as_of DATE NOT NULL,
            PRIMARY KEY (automation, customer_id, scope)
        );
        CREATE TABLE crossing_runs (
            automation VARCHAR NOT NULL,
            as_of DATE NOT NULL,
            PRIMARY KEY (automation, as_of)
        );
        """,
    ),
    (
        7,
        """
        -- every (visitor, customer) pair ever linked with a time: the first and last time;
        -- identities holds the link that wins (clm.ingest.identity.resolve)
        CREATE TABLE identity_links (
            anonymous_id VARCHAR NOT NULL,
            customer_id VARCHAR NOT NULL,
            first_at TIMESTAMP NOT NULL,
            last_at TIMESTAMP NOT NULL,
            PRIMARY KEY (anonymous_id, customer_id)
        );
        INSERT INTO identity_links
        SELECT anonymous_id, customer_id, linked_at, linked_at FROM identities
        WHERE linked_at IS NOT NULL;
        """,
    ),
    # per-run summaries of the population pages (clm.store.summaries), filled for old runs
    (8, summaries.MIGRATION),
    (
        9,
        """
        -- one-customer lookups of the customer page and `clm customer`/`clm why` (ART
        -- indexes: a 1M-row scan becomes a point lookup; the score tables are sorted by
        -- profile instead, and the events are not indexed: it would slow every import)
        CREATE INDEX profiles_customer ON profiles (customer_id);
        CREATE INDEX consents_customer ON consents (customer_id);
        CREATE INDEX identities_customer ON identities (customer_id);
        CREATE INDEX enrolments_customer ON enrolments (customer_id);
        CREATE INDEX decisions_customer ON decisions (customer_id);
        CREATE INDEX outbox_customer ON outbox (customer_id);
        """,
    ),
    (
        10,
        """
        -- the measurement units' costly parts, kept and advanced from the events appended
        -- since (clm.automation.kept_units); empty here, the first report fills them
        CREATE TABLE units_outcomes (
            message_id VARCHAR PRIMARY KEY,
            sent BOOLEAN NOT NULL,
            delivered BOOLEAN NOT NULL,
            opened BOOLEAN NOT NULL,
            clicked BOOLEAN NOT NULL
        );
        CREATE TABLE units_revenue (
            enrolment_id VARCHAR NOT NULL,
            customer_id VARCHAR,
            enrolled_at TIMESTAMP,
            goal_until TIMESTAMP,
            revenue DECIMAL(38, 4) NOT NULL
        );
        CREATE TABLE units_progress (
            next_rowid BIGINT NOT NULL,  -- the events read: every row below it
            counted BIGINT NOT NULL,  -- how many they were
            enrolments VARCHAR NOT NULL,  -- the enrolments' state the revenue is for
            units VARCHAR NOT NULL  -- the state units_kept was computed from
        );
        CREATE TABLE units_kept (
            automation VARCHAR, version INTEGER, enrolment_id VARCHAR, customer_id VARCHAR,
            arm VARCHAR, variant VARCHAR, enrolled_at TIMESTAMP, sent BOOLEAN,
            delivered BOOLEAN, opened BOOLEAN, clicked BOOLEAN, converted BOOLEAN,
            converted_at TIMESTAMP, revenue DOUBLE, cost DOUBLE, incentive_cost DOUBLE
        );
        """,
    ),
    (
        11,
        """
        -- the events again, clustered by profile (clm.profiles.clustered): appended in
        -- batches sorted by pkey, so a one-profile lookup skips all but a few row groups
        CREATE TABLE events_by_profile (
            pkey VARCHAR,  -- coalesce(customer_id, anonymous_id)
            event_id VARCHAR NOT NULL,
            customer_id VARCHAR,
            anonymous_id VARCHAR,
            type VARCHAR NOT NULL,
            ts TIMESTAMP NOT NULL,
            category VARCHAR,
            amount DECIMAL(18, 4),
            order_id VARCHAR,
            properties JSON,
            import_id INTEGER
        );
        CREATE TABLE events_by_profile_progress (
            next_rowid BIGINT NOT NULL,  -- every event below it is in the copy
            counted BIGINT NOT NULL  -- how many they were
        );
        """,
    ),
]
