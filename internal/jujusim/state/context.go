package state

// HookContext is one running hook or action, named by JUJU_CONTEXT_ID. Hook
// tools find everything about their hook here rather than trusting the
// environment, and buffer here the changes Juju commits only if the hook
// exits 0.
type HookContext struct {
	ID   string `json:"id"`
	Unit string `json:"unit"`
	Hook Hook   `json:"hook"`
	// Pending changes, committed in order on success, dropped on failure.
	UnitSettings map[int]Bag    `json:"unit-settings,omitempty"` // relation id -> changes ("" deletes)
	AppSettings  map[int]Bag    `json:"app-settings,omitempty"`
	PortOps      []PortOp       `json:"port-ops,omitempty"`
	StorageAdds  map[string]int `json:"storage-adds,omitempty"`
	SecretOps    []SecretOp     `json:"secret-ops,omitempty"`
	StateSets    Bag            `json:"state-sets,omitempty"` // "" value with Deleted flag below
	StateDeletes []string       `json:"state-deletes,omitempty"`
}

// PortOp is a buffered open-port or close-port.
type PortOp struct {
	Open  bool   `json:"open"`
	Range string `json:"range"`
}

// SecretOp is a buffered secret change.
type SecretOp struct {
	Op          string            `json:"op"` // add, set, grant, revoke, remove
	ID          string            `json:"id"`
	Label       string            `json:"label,omitempty"`
	Owner       string            `json:"owner,omitempty"`
	Description string            `json:"description,omitempty"`
	Content     map[string]string `json:"content,omitempty"`
	RelationID  int               `json:"relation-id,omitempty"`
	Target      string            `json:"target,omitempty"` // app or unit for grant/revoke
	Revision    int               `json:"revision,omitempty"`
}
