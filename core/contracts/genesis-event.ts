// What the join endpoint reports of each admission, to the genesis stage (its log and counts) and
// to tests: one shape for both sides.
/** An admission event of the join endpoint. */
export interface GenesisEvent {
  event: 'pending' | 'granted' | 'refused';
  nodeId?: number;
  name?: string;
  role?: string;
  address?: string;
  code?: string;
  via?: string;
  reason?: string;
  from: string;
}
