/*
 * banned.h - functions lib/ must not use (git's banned.h). Included last by
 * every lib/ .c file so that a use is a compile error.
 */
#ifndef MLIP_BANNED_H
#define MLIP_BANNED_H

#define BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) BANNED(strcpy)
#undef strcat
#define strcat(x, y) BANNED(strcat)
#undef sprintf
#define sprintf(...) BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) BANNED(vsprintf)
#undef gets
#define gets(x) BANNED(gets)
#undef exit
#define exit(x) BANNED(exit)
#undef printf
#define printf(...) BANNED(printf)
#undef puts
#define puts(x) BANNED(puts)

#endif
