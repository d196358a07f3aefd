// SPDX-License-Identifier: Apache-2.0

package stdio

import (
	"errors"
	"fmt"
	"os/exec"
	"syscall"
	"unsafe"

	"golang.org/x/sys/windows"
)

// A sysTree is a started child and whatever it spawns. On Windows it is a
// job object: the child is created suspended, put in a new job, then
// resumed, so every process it starts belongs to the job too. The job is
// created with JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE: when this process exits,
// even when it is killed, the system closes its handle to the job and ends
// every process in it.
type sysTree struct {
	job windows.Handle
}

func startSysTree(cmd *exec.Cmd) (sysTree, error) {
	job, err := windows.CreateJobObject(nil, nil)
	if err != nil {
		return sysTree{}, fmt.Errorf("creating job object: %w", err)
	}
	info := windows.JOBOBJECT_EXTENDED_LIMIT_INFORMATION{
		BasicLimitInformation: windows.JOBOBJECT_BASIC_LIMIT_INFORMATION{
			LimitFlags: windows.JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE,
		},
	}
	if _, err := windows.SetInformationJobObject(job, windows.JobObjectExtendedLimitInformation,
		uintptr(unsafe.Pointer(&info)), uint32(unsafe.Sizeof(info))); err != nil {
		windows.CloseHandle(job)
		return sysTree{}, fmt.Errorf("configuring job object: %w", err)
	}
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.CreationFlags |= windows.CREATE_SUSPENDED
	if err := cmd.Start(); err != nil {
		windows.CloseHandle(job)
		return sysTree{}, err
	}
	if err := assignAndResume(job, uint32(cmd.Process.Pid)); err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		windows.CloseHandle(job)
		return sysTree{}, err
	}
	return sysTree{job: job}, nil
}

// assignAndResume puts the suspended process pid in job and resumes its
// threads.
func assignAndResume(job windows.Handle, pid uint32) error {
	h, err := windows.OpenProcess(windows.PROCESS_SET_QUOTA|windows.PROCESS_TERMINATE, false, pid)
	if err != nil {
		return fmt.Errorf("opening process %d: %w", pid, err)
	}
	defer windows.CloseHandle(h)
	if err := windows.AssignProcessToJobObject(job, h); err != nil {
		return fmt.Errorf("assigning process %d to its job object: %w", pid, err)
	}
	snap, err := windows.CreateToolhelp32Snapshot(windows.TH32CS_SNAPTHREAD, 0)
	if err != nil {
		return fmt.Errorf("listing threads of process %d: %w", pid, err)
	}
	defer windows.CloseHandle(snap)
	resumed := 0
	var te windows.ThreadEntry32
	te.Size = uint32(unsafe.Sizeof(te))
	for err = windows.Thread32First(snap, &te); err == nil; err = windows.Thread32Next(snap, &te) {
		if te.OwnerProcessID != pid {
			continue
		}
		th, err := windows.OpenThread(windows.THREAD_SUSPEND_RESUME, false, te.ThreadID)
		if err != nil {
			return fmt.Errorf("opening thread %d of process %d: %w", te.ThreadID, pid, err)
		}
		_, err = windows.ResumeThread(th)
		windows.CloseHandle(th)
		if err != nil {
			return fmt.Errorf("resuming thread %d of process %d: %w", te.ThreadID, pid, err)
		}
		resumed++
	}
	if resumed == 0 {
		return fmt.Errorf("resuming process %d: no thread found", pid)
	}
	return nil
}

// interruptName names the polite stop request in logs.
const interruptName = "terminate"

// interrupt is not available: Windows has no signal a program without a
// console can be sent. The stop sequence goes from closing stdin straight to
// terminating the job.
func (t sysTree) interrupt() error { return errors.ErrUnsupported }

// kill terminates every process in the job.
func (t sysTree) kill() error { return windows.TerminateJobObject(t.job, 1) }

// release closes the job handle, which ends any process still in it.
func (t sysTree) release() { windows.CloseHandle(t.job) }
