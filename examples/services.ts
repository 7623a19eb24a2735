/**
 * Stand-ins for the outside world the examples talk to (a user database, a mailer,
 * a payment API). They record what happened so tests and `npm start` can show it.
 */
export interface Services {
  users: Map<string, { id: string; email: string; name: string }>;
  sent: Array<{ to: string; template: string }>;
  log: (line: string) => void;
}

export function createServices(log: (line: string) => void = () => {}): Services {
  return {
    users: new Map([
      ["u_1", { id: "u_1", email: "ada@example.com", name: "Ada" }],
      ["u_2", { id: "u_2", email: "grace@example.com", name: "Grace" }],
    ]),
    sent: [],
    log,
  };
}
