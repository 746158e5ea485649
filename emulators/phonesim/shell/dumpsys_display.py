"""``dumpsys display``, ``dumpsys window`` and ``dumpsys input`` in Android 14's format, trimmed.

Each dump keeps the lines ADB tools read, with the punctuation and indentation of the AOSP code that prints
them (DisplayManagerService / DisplayDevice / LogicalDisplay / DisplayInfo / DisplayViewport, WindowManager's
DisplayContent and DisplayRotation, InputReader / TouchInputMapper / InputDispatcher); the many lines no tool
reads are left out. docs/SHELL_FIDELITY.md lists what is simulated and what is fixed.
"""

from __future__ import annotations

from emulators.phonesim.shell.base import ShellContext
from emulators.phonesim.shell.errors import CommandFailed
from emulators.phonesim.shell.screen import (
    DISPLAY_NAME,
    DISPLAY_UNIQUE_ID,
    SYSTEM_WINDOWS,
    ScreenFacts,
    activity_record,
    app_pid,
    app_uid,
    focus,
    hex_id,
    screen_facts,
    user_id_name,
    window_record,
)

SEPARATOR = "-" * 79  # between the sections of a full ``dumpsys window``
_ADDRESS = "{port=0, model=0x401cec6a7a2b7b}"
_HDR = ("HdrCapabilities{mSupportedHdrTypes=[], mMaxLuminance=500.0, mMaxAverageLuminance=500.0, "
        "mMinLuminance=0.0}")
_ROTATIONS = ("ROTATION_0", "ROTATION_90", "ROTATION_180", "ROTATION_270")


def _rect(s: ScreenFacts) -> str:
    return f"Rect(0, 0 - {s.width}, {s.height})"


def _mode(s: ScreenFacts) -> str:
    return (f"{{id=1, width={s.width}, height={s.height}, fps=60.0, vsync=60.0, synthetic=false, "
            "alternativeRefreshRates=[], supportedHdrTypes=[]}")


def _viewport(s: ScreenFacts) -> str:
    """DisplayViewport.toString (Java), as ``mViewports`` prints it."""
    return (f"DisplayViewport{{type=INTERNAL, valid=true, isActive=true, displayId=0, "
            f"uniqueId='{DISPLAY_UNIQUE_ID}', physicalPort=0, orientation={s.rotation}, "
            f"logicalFrame={_rect(s)}, physicalFrame={_rect(s)}, "
            f"deviceWidth={s.width}, deviceHeight={s.height}}}")


def _device_info(s: ScreenFacts) -> str:
    """DisplayDeviceInfo.toString of the built-in screen."""
    return (f'DisplayDeviceInfo{{"{DISPLAY_NAME}": uniqueId="{DISPLAY_UNIQUE_ID}", '
            f"{s.width} x {s.height}, modeId 1, renderFrameRate 60.0, defaultModeId 1, "
            f"userPreferredModeId -1, supportedModes [{_mode(s)}], colorMode 0, supportedColorModes [0], "
            f"hdrCapabilities {_HDR}, allmSupported false, gameContentTypeSupported false, "
            f"density {s.dpi}, {s.dpi}.0 x {s.dpi}.0 dpi, appVsyncOff 1000000, presDeadline 16666666, "
            f"touch INTERNAL, rotation {s.rotation}, type INTERNAL, address {_ADDRESS}, state ON, "
            "committedState ON, frameRateOverride , brightnessMinimum 0.0, brightnessMaximum 1.0, "
            "brightnessDefault 0.5, hdrSdrRatio NaN, FLAG_ALLOWED_TO_BE_DEFAULT_DISPLAY, "
            "FLAG_ROTATES_WITH_CONTENT, FLAG_SECURE, FLAG_SUPPORTS_PROTECTED_BUFFERS, installOrientation 0}")


def _display_info(s: ScreenFacts, override: bool) -> str:
    """DisplayInfo.toString: ``mBaseDisplayInfo`` (whole screen) or ``mOverrideDisplayInfo`` (app area)."""
    longest = max(s.width, s.height)
    app = f"{s.width} x {s.app_height}" if override else f"{s.width} x {s.height}"
    largest = f"{longest} x {longest - s.nav_px}" if override else f"{longest} x {longest}"
    smallest = f"{s.width} x {s.width - s.nav_px}" if override else f"{s.width} x {s.width}"
    return (f'DisplayInfo{{"{DISPLAY_NAME}", displayId 0, displayGroupId 0, FLAG_SECURE, '
            f"FLAG_SUPPORTS_PROTECTED_BUFFERS, FLAG_TRUSTED, real {s.width} x {s.height}, "
            f"largest app {largest}, smallest app {smallest}, appVsyncOff 1000000, presDeadline 16666666, "
            "mode 1, defaultMode 1, "
            f"modes [{_mode(s)}], hdrCapabilities {_HDR}, userDisabledHdrTypes [], "
            f"minimalPostProcessingSupported false, rotation {s.rotation}, state ON, committedState ON, "
            f'type INTERNAL, uniqueId "{DISPLAY_UNIQUE_ID}", app {app}, '
            f"density {s.dpi} ({s.dpi}.0 x {s.dpi}.0) dpi, "
            f"layerStack 0, colorMode 0, supportedColorModes [0], address {_ADDRESS}, removeMode 0, "
            "refreshRateOverride 0.0, brightnessMinimum 0.0, brightnessMaximum 1.0, brightnessDefault 0.5, "
            "installOrientation ORIENTATION_0, layoutLimitedRefreshRate null, hdrSdrRatio NaN}")


def dump_display(ctx: ShellContext) -> str:
    """DisplayManagerService.dumpInternal: viewports, the display device, the logical display."""
    s = screen_facts(ctx)
    lines = [
        "DISPLAY MANAGER (dumpsys display)", "  mSafeMode=false", "  mPendingTraversal=false",
        f"  mViewports=[{_viewport(s)}]", "  mDefaultDisplayDefaultColorMode=0",
        "  mWifiDisplayScanRequestCount=0", f"  mStableDisplaySize=Point({s.width}, {s.height})", "",
        "Display Adapters: size=1", "  LocalDisplayAdapter", "",
        "Display Devices: size=1", f"  {_device_info(s)}", "    mAdapter=LocalDisplayAdapter",
        f"    mUniqueId={DISPLAY_UNIQUE_ID}", "    mCurrentLayerStack=0", "    mCurrentFlags=1",
        f"    mCurrentOrientation={s.rotation}", f"    mCurrentLayerStackRect={_rect(s)}",
        f"    mCurrentDisplayRect={_rect(s)}", "    mCurrentSurface=null", "",
        "Logical Displays: size=1", "  Display 0:", "    mDisplayId=0", "    mIsEnabled=true",
        "    mLayerStack=0", "    mHasContent=true", "    mDisplayOffset=(0, 0)",
        "    mDisplayScalingDisabled=false",
        f"    mPrimaryDisplayDevice={DISPLAY_NAME}", f"    mBaseDisplayInfo={_display_info(s, False)}",
        f"    mOverrideDisplayInfo={_display_info(s, True)}",
    ]
    return "\n".join(lines) + "\n"


def _display_content(ctx: ShellContext) -> list[str]:
    """DisplayContent.dump: sizes, focus, and the DisplayRotation block (rotation 0, locked)."""
    s = screen_facts(ctx)
    rotation = _ROTATIONS[s.rotation]
    return [
        "  Display: mDisplayId=0 rootTasks=1",
        f"    init={s.width}x{s.height} {s.dpi}dpi mMinSizeOfResizeableTaskDp=220 cur={s.width}x{s.height} "
        f"app={s.width}x{s.app_height} rng={s.width}x{s.width - s.nav_px}-{s.height}x{s.app_height}",
        f"    deferred=false mLayoutNeeded=false mTouchExcludeRegion=SkRegion((0,0,{s.width},{s.height}))",
        "",
        f"  mCurrentFocus={window_record(ctx)}", f"  mFocusedApp={activity_record(ctx)}",
        "  DisplayRotation", "    mCurrentAppOrientation=SCREEN_ORIENTATION_UNSPECIFIED",
        "    mLastOrientation=-1",
        f"    mRotation={s.rotation} mDeferredRotationPauseCount=0",
        "    mLandscapeRotation=ROTATION_90 mSeascapeRotation=ROTATION_270",
        "    mPortraitRotation=ROTATION_0 mUpsideDownRotation=ROTATION_180", "    mSupportAutoRotation=true",
        "    WindowOrientationListener", "      mEnabled=false", f"      mCurrentRotation={rotation}",
        "      mSensorType=null", "      mSensor=null", "      mRate=2",
        "    mCarDockRotation=-1 mDeskDockRotation=-1",
        f"    mUserRotationMode=USER_ROTATION_LOCKED mUserRotation={rotation} mCameraRotationMode=0",
        "    mFixedToUserRotation=false",
    ]


def _window_block(ctx: ShellContext, number: int, title: str, package: str, kind: str,
                  frame: str) -> list[str]:
    uid = app_uid(ctx, package)
    return [
        f"  Window #{number} Window{{{hex_id(title)} u0 {title}}}:",
        f"    mDisplayId=0 rootTaskId={1 if kind == 'BASE_APPLICATION' else -1} "
        f"mSession=Session{{{hex_id(package + '#session')} {app_pid(ctx, package)}:{user_id_name(uid)}}}",
        f"    mOwnerUid={uid} showForAllUsers={str(kind != 'BASE_APPLICATION').lower()} "
        f"package={package} appop=NONE",
        f"    mAttrs={{(0,0)(fillxfill) ty={kind} fmt=TRANSLUCENT}}",
        f"    Frames: parent={frame} display={frame} frame={frame} last={frame} insetsChanged=false",
        "    mHasSurface=true isReadyForDisplay()=true", "    isOnScreen=true", "    isVisible=true",
    ]


def _windows(ctx: ShellContext) -> list[str]:
    """The visible windows, top first: navigation bar, status bar, the focused app's window.

    After them come the legacy ``mCurrentFocus`` / ``mFocusedApp`` lines that Android 9 printed here (newer
    releases print them only in ``dumpsys window displays``); tools written for Android 9 read them here.
    """
    s = screen_facts(ctx)
    package, _ = focus(ctx)
    component = ctx.host.focused_window()
    lines = ["WINDOW MANAGER WINDOWS (dumpsys window windows)"]
    frames = {"NAVIGATION_BAR": f"[0,{s.app_height}][{s.width},{s.height}]",
              "STATUS_BAR": f"[0,0][{s.width},{s.status_px}]"}
    for i, (title, owner, kind) in enumerate(SYSTEM_WINDOWS):
        lines += _window_block(ctx, i, title, owner, kind, frames[kind])
    lines += _window_block(ctx, len(SYSTEM_WINDOWS), component, package, "BASE_APPLICATION",
                           f"[0,0][{s.width},{s.height}]")
    lines += ["", "  mHasPermanentDpad=false", "  mTopFocusedDisplayId=0",
              f"  mCurrentFocus={window_record(ctx)}", f"  mFocusedApp={activity_record(ctx)}",
              "  mInTouchMode=true"]
    return lines


def _policy() -> list[str]:
    """PhoneWindowManager.dump, the lines lock-screen checks read: awake, screen on, no keyguard."""
    return [
        "WINDOW MANAGER POLICY STATE (dumpsys window policy)",
        "    mSafeMode=false mSystemReady=true mSystemBooted=true", "    mLidState=LID_ABSENT",
        "    mScreenOnEarly=true mScreenOnFully=true",
        "    mKeyguardDrawComplete=true mWindowManagerDrawComplete=true",
        "    mHomePressed=false", "    KeyguardServiceDelegate", "      showing=false",
        "      inputRestricted=false",
        "      occluded=false", "      secure=false", "      dreaming=false", "      systemIsReady=true",
        "      deviceHasKeyguard=false", "      enabled=true", "      offReason=OFF_BECAUSE_OF_USER",
        "      currentUser=0", "      bootCompleted=true", "      screenState=SCREEN_STATE_ON",
        "      interactiveState=INTERACTIVE_STATE_AWAKE",
    ]


def dump_window(ctx: ShellContext, args: list[str]) -> str:
    """``dumpsys window [policy|windows|displays|w|d|p]``; no argument prints all three sections."""
    def displays() -> list[str]:
        return ["WINDOW MANAGER DISPLAY CONTENTS (dumpsys window displays)", *_display_content(ctx)]

    sections = {"policy": _policy, "p": _policy, "windows": lambda: _windows(ctx), "w": lambda: _windows(ctx),
                "displays": displays, "d": displays}
    wanted = [a for a in args if not a.startswith("-")]
    if not wanted:
        parts = [sections[name]() for name in ("policy", "windows", "displays")]
        return f"\n{SEPARATOR}\n".join("\n".join(p) for p in parts) + "\n"
    if wanted[0] not in sections:
        raise CommandFailed(f"Bad window command, or no windows match: {wanted[0]}\n"
                            "PhoneSim's dumpsys window serves: policy, windows, displays")
    return "\n".join(sections[wanted[0]]()) + "\n"


def _input_viewport(s: ScreenFacts) -> str:
    """DisplayViewport::toString (C++), as InputReader prints it."""
    return (f"Viewport INTERNAL: displayId=0, uniqueId={DISPLAY_UNIQUE_ID}, port=0, "
            f"orientation={s.rotation}, "
            f"logicalFrame=[0, 0, {s.width}, {s.height}], physicalFrame=[0, 0, {s.width}, {s.height}], "
            f"deviceSize=[{s.width}, {s.height}], isActive=[1]")


def dump_input(ctx: ShellContext) -> str:
    """InputManagerService + InputReader + InputDispatcher dumps: the touch screen and the focus."""
    s = screen_facts(ctx)
    lines = [
        "INPUT MANAGER (dumpsys input)", "", "Input Manager State:", "  Interactive: true",
        "  System UI Lights Out: false", "  Pointer Speed: 0", "  Show Touches: false", "",
        "Input Reader State (Nums of device: 1):", "  Device 2: virtio_input_multi_touch_1",
        "    EventHub Devices: [ 2 ] ", "    Generation: 2", "    IsExternal: false",
        "    Sources: TOUCHSCREEN", "    Touch Input Mapper (mode - DIRECT):", f"      {_input_viewport(s)}",
        f"      DisplayBounds: {s.width}x{s.height}",
        f"      PhysicalFrameInRotatedDisplay: Rect(0, 0, {s.width}, {s.height})",
        f"      InputDeviceOrientation: {s.rotation}", "  Configuration:", "      Viewports:",
        f"        {_input_viewport(s)}", "",
        "Input Dispatcher State:", "  DispatchEnabled: true", "  DispatchFrozen: false",
        "  FocusedDisplayId: 0",
        "  FocusedApplications:",
        f"    displayId=0, name='{activity_record(ctx)}', dispatchingTimeout=5000ms", "  FocusedWindows:",
        f"    displayId=0, name='{hex_id(ctx.host.focused_window())} {ctx.host.focused_window()}'",
    ]
    return "\n".join(lines) + "\n"
