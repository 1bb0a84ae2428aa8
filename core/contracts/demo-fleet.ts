// The fleet of DESIGN §1: what the router aims at while the registry is empty (a fresh admin,
// `ppn route`).
import type { Fleet } from './fleet.js';

export function demoFleet(): Fleet {
  return {
    nodes: [
      { id: 1, name: 'cloud-relay', aliases: ['relay', 'hub', 'cloud relay', 'the cloud'], address: '10.8.0.1', role: 'cloud-relay', groups: [], takesCommands: false },
      { id: 2, name: 'onprem', aliases: ['on-premises', 'on-prem', 'on premises', 'on prem'], address: '10.8.0.2', role: 'os-infrastructure', groups: [1], takesCommands: true },
      { id: 3, name: 'leased', aliases: ['leased node', 'leased server'], address: '10.8.0.3', role: 'os-infrastructure', groups: [1], takesCommands: true },
      { id: 10, name: 'admin', aliases: ['authority', 'control plane', 'admin node'], address: '10.8.0.10', role: 'os-network-admin', groups: [], takesCommands: false },
    ],
    groups: [{ id: 1, name: 'edge', aliases: ['edge nodes', 'edge group', 'infrastructure nodes', 'infra nodes', 'os-infrastructure'] }],
  };
}
