"""Times written for the ear: a voice call is read out by text-to-speech, and "09:30" read aloud
helps nobody. These render a moment in Asia/Shanghai as words: "十一月二十八日 上午九点半",
"Saturday 28 November, half past nine in the morning"."""

from __future__ import annotations

from datetime import datetime

from alliance.core.timeutil import to_local

_DIGITS = "零一二三四五六七八九"
_EN_NUMBERS = [
    "twelve",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
]
_EN_TENS = {2: "twenty", 3: "thirty", 4: "forty", 5: "fifty"}
_EN_MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_EN_WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]


def chinese_number(number: int) -> str:
    """0..99 in Chinese numerals: 9 → 九, 10 → 十, 28 → 二十八, 30 → 三十."""
    if number < 10:
        return _DIGITS[number]
    tens, ones = divmod(number, 10)
    return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")


def _chinese_time(hour: int, minute: int) -> str:
    if hour < 6:
        period = "凌晨"
    elif hour < 12:
        period = "上午"
    elif hour < 13:
        period = "中午"
    elif hour < 18:
        period = "下午"
    else:
        period = "晚上"
    spoken_hour = hour % 12 or 12
    hour_words = "两" if spoken_hour == 2 else chinese_number(spoken_hour)
    if minute == 0:
        rest = "点"
    elif minute == 30:
        rest = "点半"
    elif minute < 10:
        rest = "点零" + chinese_number(minute) + "分"
    else:
        rest = "点" + chinese_number(minute) + "分"
    return f"{period}{hour_words}{rest}"


def _english_minutes(minute: int) -> str:
    if minute <= 20:
        return _EN_NUMBERS[minute] if minute else "twelve"
    tens, ones = divmod(minute, 10)
    return _EN_TENS[tens] + (f"-{_EN_NUMBERS[ones]}" if ones else "")


def _english_time(hour: int, minute: int) -> str:
    if hour == 12 and minute == 0:
        return "twelve noon"
    if hour == 0 and minute == 0:
        return "midnight"
    spoken_hour = hour % 12
    next_hour = (hour + 1) % 12
    if minute == 0:
        words = f"{_EN_NUMBERS[spoken_hour]} o'clock"
    elif minute == 15:
        words = f"quarter past {_EN_NUMBERS[spoken_hour]}"
    elif minute == 30:
        words = f"half past {_EN_NUMBERS[spoken_hour]}"
    elif minute == 45:
        words = f"quarter to {_EN_NUMBERS[next_hour]}"
    else:
        words = f"{_EN_NUMBERS[spoken_hour]} {'oh ' if minute < 10 else ''}{_english_minutes(minute)}"
    if hour < 12:
        period = "in the morning"
    elif hour < 18:
        period = "in the afternoon"
    else:
        period = "in the evening"
    return f"{words} {period}"


def spoken_datetime(moment: datetime, language: str) -> str:
    """The day and the time of `moment` (shown in Asia/Shanghai) as a listener hears them."""
    local = to_local(moment)
    assert local is not None
    if language == "zh_CN":
        day = f"{chinese_number(local.month)}月{chinese_number(local.day)}日"
        return f"{day} {_chinese_time(local.hour, local.minute)}"
    day = f"{_EN_WEEKDAYS[local.weekday()]} {local.day} {_EN_MONTHS[local.month - 1]}"
    return f"{day}, {_english_time(local.hour, local.minute)}"


def spoken_time(moment: datetime, language: str) -> str:
    """Only the time of day, as words ("上午十一点半", "half past eleven in the morning")."""
    local = to_local(moment)
    assert local is not None
    if language == "zh_CN":
        return _chinese_time(local.hour, local.minute)
    return _english_time(local.hour, local.minute)


def written_window(start: datetime, end: datetime) -> str:
    """A visit window for a short text: "11-28 09:30–11:30" (local time, the same in both languages)."""
    local_start, local_end = to_local(start), to_local(end)
    assert local_start is not None and local_end is not None
    if local_start.date() == local_end.date():
        return f"{local_start:%m-%d %H:%M}–{local_end:%H:%M}"
    return f"{local_start:%m-%d %H:%M}–{local_end:%m-%d %H:%M}"
