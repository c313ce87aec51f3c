package service

import (
	"context"
	"encoding/hex"
	"fmt"
)

// State implements Manager. systemd loads a unit on demand when its properties are read, so an
// unknown unit reads as LoadState "not-found" rather than an error.
func (s *Systemd) State(ctx context.Context, name string) (State, error) {
	unit := unitName(name)
	props, err := s.conn.GetUnitPropertiesContext(ctx, unit)
	if err != nil {
		return State{}, fmt.Errorf("state of %s: %w", unit, err)
	}
	active, _ := props["ActiveState"].(string)
	sub, _ := props["SubState"].(string)
	load, _ := props["LoadState"].(string)
	fileState, _ := props["UnitFileState"].(string)
	invocation, _ := props["InvocationID"].([]byte)
	st := State{
		Installed:    load != "" && load != "not-found",
		Enabled:      fileState == "enabled" || fileState == "enabled-runtime",
		Active:       active == "active" || active == "reloading",
		Status:       active + " (" + sub + ")",
		InvocationID: hex.EncodeToString(invocation),
	}
	if !st.Installed {
		return st, nil
	}
	pid, err := s.conn.GetServicePropertyContext(ctx, unit, "MainPID")
	if err != nil {
		return State{}, fmt.Errorf("state of %s: MainPID: %w", unit, err)
	}
	if v, ok := pid.Value.Value().(uint32); ok {
		st.MainPID = int(v)
	}
	return st, nil
}
