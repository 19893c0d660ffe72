/**
 * Agents: provisioning (name, queues, capacity) and presence (ready/notready and live sockets).
 * Presence is in the database so that every node routes on the same facts and a crashed node's
 * sockets simply expire.
 */
import type { Queryable } from '../../shared/db/pool.js';

export type AgentState = 'ready' | 'notready';

export interface Agent {
  ccid: string;
  agentId: string;
  name: string;
  queues: string[];
  capacity: number;
  state: AgentState;
  connected: boolean;
  idleSince: string;
  created: string;
  updated: string;
}

/** An agent socket connected to this node. */
export interface LiveSocket {
  socketId: string;
  ccid: string;
  agentId: string;
}

export interface AgentInput {
  name: string;
  queues: string[];
  capacity: number;
}

interface Row {
  ccid: string;
  agent_id: string;
  name: string;
  queues: string[];
  capacity: number;
  state: AgentState;
  connected: boolean;
  idle_since: Date;
  created_at: Date;
  updated_at: Date;
}

const toAgent = (r: Row): Agent => ({
  ccid: r.ccid,
  agentId: r.agent_id,
  name: r.name,
  queues: r.queues,
  capacity: r.capacity,
  state: r.state,
  connected: r.connected,
  idleSince: r.idle_since.toISOString(),
  created: r.created_at.toISOString(),
  updated: r.updated_at.toISOString(),
});

const SELECT = `SELECT a.*, EXISTS (SELECT 1 FROM agent_connections c
    WHERE c.ccid = a.ccid AND c.agent_id = a.agent_id AND c.expires_at > now()) AS connected
  FROM agents a`;

export class AgentStore {
  constructor(private readonly db: Queryable) {}

  async get(ccid: string, agentId: string, q: Queryable = this.db): Promise<Agent | undefined> {
    const r = await q.query<Row>(`${SELECT} WHERE a.ccid = $1 AND a.agent_id = $2`, [ccid, agentId]);
    return r.rows[0] ? toAgent(r.rows[0]) : undefined;
  }

  async list(ccid: string): Promise<Agent[]> {
    const r = await this.db.query<Row>(`${SELECT} WHERE a.ccid = $1 ORDER BY a.agent_id`, [ccid]);
    return r.rows.map(toAgent);
  }

  /** Creates or replaces the provisioning fields; presence is kept. */
  async put(ccid: string, agentId: string, input: AgentInput): Promise<{ agent: Agent; created: boolean }> {
    const r = await this.db.query<{ inserted: boolean }>(
      `INSERT INTO agents (ccid, agent_id, name, queues, capacity) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (ccid, agent_id) DO UPDATE
         SET name = EXCLUDED.name, queues = EXCLUDED.queues, capacity = EXCLUDED.capacity, updated_at = now()
       RETURNING (xmax = 0) AS inserted`,
      [ccid, agentId, input.name, input.queues, input.capacity],
    );
    const agent = (await this.get(ccid, agentId)) as Agent;
    return { agent, created: r.rows[0].inserted };
  }

  async delete(ccid: string, agentId: string, q: Queryable = this.db): Promise<boolean> {
    const r = await q.query('DELETE FROM agents WHERE ccid = $1 AND agent_id = $2', [ccid, agentId]);
    return (r.rowCount ?? 0) > 0;
  }

  /** Going ready from notready starts the idle clock; staying ready keeps the agent's place. */
  async setState(ccid: string, agentId: string, state: AgentState): Promise<Agent | undefined> {
    await this.db.query(
      `UPDATE agents SET state = $3, updated_at = now(),
         idle_since = CASE WHEN $3 = 'ready' AND state <> 'ready' THEN clock_timestamp() ELSE idle_since END
       WHERE ccid = $1 AND agent_id = $2`,
      [ccid, agentId, state],
    );
    return this.get(ccid, agentId);
  }

  async connect(
    socketId: string,
    ccid: string,
    agentId: string,
    nodeId: string,
    ttlMs: number,
  ): Promise<void> {
    await this.db.query(
      `INSERT INTO agent_connections (socket_id, ccid, agent_id, node_id, expires_at)
       VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond')
       ON CONFLICT (socket_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
      [socketId, ccid, agentId, nodeId, ttlMs],
    );
  }

  async disconnect(socketId: string): Promise<void> {
    await this.db.query('DELETE FROM agent_connections WHERE socket_id = $1', [socketId]);
  }

  /**
   * Writes this node's live sockets (inserted again when a row is missing), drops its rows of
   * sockets that are gone (a disconnect whose delete raced a late write), and forgets expired rows
   * (a crashed node's). Upserting, not only extending, matters: a sweep's list of sockets is taken
   * when it starts, so its delete can remove the row of a socket that connected meanwhile; the next
   * sweep puts it back instead of leaving a connected agent unroutable until it reconnects.
   * Sockets of an agent deleted meanwhile are skipped (their rows went with the agent).
   */
  async heartbeat(nodeId: string, live: LiveSocket[], ttlMs: number): Promise<void> {
    const ids = live.map((s) => s.socketId);
    if (live.length) {
      await this.db.query(
        `INSERT INTO agent_connections (socket_id, ccid, agent_id, node_id, expires_at)
         SELECT s.socket_id, s.ccid, s.agent_id, $1, now() + $5 * interval '1 millisecond'
         FROM unnest($2::text[], $3::text[], $4::text[]) AS s (socket_id, ccid, agent_id)
         JOIN agents a ON a.ccid = s.ccid AND a.agent_id = s.agent_id
         ON CONFLICT (socket_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
        [nodeId, ids, live.map((s) => s.ccid), live.map((s) => s.agentId), ttlMs],
      );
    }
    await this.db.query(
      `DELETE FROM agent_connections
       WHERE (node_id = $1 AND NOT (socket_id = ANY($2::text[]))) OR expires_at < now() - interval '1 minute'`,
      [nodeId, ids],
    );
  }

  async forgetNode(nodeId: string): Promise<void> {
    await this.db.query('DELETE FROM agent_connections WHERE node_id = $1', [nodeId]);
  }
}
