// Command probe is a static helper the machine tests bind into containers, whose minimal Debian
// image has no nc, curl, flock or stat -c for device numbers. Each subcommand checks one thing:
//
//	probe echo                 inetd-style (systemd Accept=yes): read a line, answer "<hostname> <line>"
//	probe dial ADDR MSG        connect, send MSG, print the answer
//	probe stat PATH            print "<dev>:<inode>"
//	probe hold PATH            take an OFD write lock, tell systemd READY=1, hold until killed
//	probe trylock PATH         try the OFD write lock once: print "locked" or "busy" (exit 1)
//	probe units                list units through go-systemd on /run/systemd/private
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/coreos/go-systemd/v22/daemon"
	sdbus "github.com/coreos/go-systemd/v22/dbus"
	"golang.org/x/sys/unix"
)

func main() {
	if len(os.Args) < 2 {
		fail("usage: probe echo|dial|stat|hold|trylock|units ...")
	}
	var err error
	switch args := os.Args[2:]; os.Args[1] {
	case "echo":
		err = echo()
	case "dial":
		err = dial(args[0], args[1])
	case "stat":
		err = statPath(args[0])
	case "hold":
		err = hold(args[0])
	case "trylock":
		err = trylock(args[0])
	case "units":
		err = units()
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fail(err.Error())
	}
}

func fail(msg string) {
	fmt.Fprintln(os.Stderr, "probe:", msg)
	os.Exit(2)
}

func echo() error {
	line, err := bufio.NewReader(os.Stdin).ReadString('\n')
	if err != nil {
		return err
	}
	host, err := os.Hostname()
	if err != nil {
		return err
	}
	_, err = fmt.Printf("%s %s\n", host, strings.TrimSpace(line))
	return err
}

func dial(addr, msg string) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := fmt.Fprintln(conn, msg); err != nil {
		return err
	}
	answer, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		return err
	}
	fmt.Print(answer)
	return nil
}

func statPath(path string) error {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return err
	}
	fmt.Printf("%d:%d\n", st.Dev, st.Ino)
	return nil
}

func lock(path string, cmd int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	l := unix.Flock_t{Type: unix.F_WRLCK}
	if err := unix.FcntlFlock(f.Fd(), cmd, &l); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

func hold(path string) error {
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	f, err := lock(path, unix.F_OFD_SETLKW)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := daemon.SdNotify(false, daemon.SdNotifyReady); err != nil {
		return err
	}
	<-stop
	return nil
}

func trylock(path string) error {
	f, err := lock(path, unix.F_OFD_SETLK)
	if err == unix.EAGAIN || err == unix.EACCES {
		fmt.Println("busy")
		os.Exit(1)
	}
	if err != nil {
		return err
	}
	f.Close()
	fmt.Println("locked")
	return nil
}

func units() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	conn, err := sdbus.NewSystemdConnectionContext(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	list, err := conn.ListUnitsContext(ctx)
	if err != nil {
		return err
	}
	for _, u := range list {
		fmt.Println(u.Name, u.ActiveState)
	}
	return nil
}
